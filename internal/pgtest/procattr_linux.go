package pgtest

import "syscall"

// procAttr runs the server as cred (nil: as ourselves) and makes the kernel
// stop it when the thread that started it exits, so a test binary killed by
// -timeout leaves no server behind. Go sets the parent-death signal after
// changing credentials, which would otherwise clear it.
func procAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
}
