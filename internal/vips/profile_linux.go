package vips

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// profileFile makes data a file libvips can open by name: a sealed memory
// file of this process (/proc/self/fd/N), which leaves nothing on disk to
// clean up or to tamper with. On failure it returns "".
func profileFile(data []byte) string {
	fd, err := unix.MemfdCreate("ximagepipeline-srgb.icc", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return ""
	}
	if n, err := unix.Write(fd, data); err != nil || n != len(data) {
		unix.Close(fd)
		return ""
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL); err != nil {
		unix.Close(fd)
		return ""
	}
	return fmt.Sprintf("/proc/self/fd/%d", fd) // open for the life of the process
}
