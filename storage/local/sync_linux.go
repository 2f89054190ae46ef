package local

import (
	"os"

	"golang.org/x/sys/unix"
)

// flush writes every dirty file and directory of dir's file system to
// stable storage, and reports write-back errors since the last flush.
func flush(dir *os.File) error { return unix.Syncfs(int(dir.Fd())) }
