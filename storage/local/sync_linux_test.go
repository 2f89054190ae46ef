package local

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A Put leaves none of its object's pages in the page cache, and the object
// still reads back whole.
func TestPutLeavesNothingCached(t *testing.T) {
	// Beside the package rather than in TMPDIR, which may be a tmpfs,
	// whose pages are memory and cannot be dropped.
	dir, err := os.MkdirTemp(".", ".test-cache-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s, err := New(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB, 256 pages
	if err := s.Put(context.Background(), "staging/job_1", bytes.NewReader(data), int64(len(data)), "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "staging", "job_1")
	if n := residentPages(t, path); n != 0 {
		t.Errorf("%d of %d pages of the object are in the page cache after Put, want 0", n, len(data)/os.Getpagesize())
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Error("the object does not read back as written")
	}
	// The check itself can see cached pages: the read just cached them.
	if n := residentPages(t, path); n == 0 {
		t.Error("residentPages sees no page of a file just read")
	}
}

// residentPages counts the pages of the file at path that are in the page
// cache, mapping it without touching it.
func residentPages(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	pages := (len(m) + os.Getpagesize() - 1) / os.Getpagesize()
	vec := make([]byte, pages)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}
