package storagetest

import "syscall"

// dieWithParent makes the kernel kill the child when the thread that
// started it exits, so a test binary killed by -timeout leaves no server.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
