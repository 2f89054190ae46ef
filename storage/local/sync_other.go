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

// flushedErr reports a write-back error on f; elsewhere only fsync does.
func flushedErr(f *os.File) error { return f.Sync() }

// dropCache is Linux-only advice (see sync_linux.go).
func dropCache(*os.File) {}
