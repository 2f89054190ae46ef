//go:build !linux

package storagetest

import "syscall"

func dieWithParent() *syscall.SysProcAttr { return nil }
