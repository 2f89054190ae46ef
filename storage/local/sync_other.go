//go:build !linux

package local

import (
	"os"
	"syscall"
)

// flush asks the system to write every dirty file to stable storage. Only
// Linux has syncfs(2), which also waits for the writes and reports their
// errors; elsewhere (development machines) sync(2) is the nearest call.
func flush(*os.File) error {
	syscall.Sync()
	return nil
}
