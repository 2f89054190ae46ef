package local

import (
	"os"

	"golang.org/x/sys/unix"
)

// flush writes every dirty file and directory of dir's file system to
// stable storage, and reports write-back errors since the last flush.
func flush(dir *os.File) error { return unix.Syncfs(int(dir.Fd())) }

// flushedErr reports a write-back error on f after a flush has written it:
// sync_file_range waits for any write still in flight and reports the
// file's own errors, like fsync, without fsync's journal commit and device
// cache flush, which the file system flush has just done for everyone.
func flushedErr(f *os.File) error {
	const all = unix.SYNC_FILE_RANGE_WAIT_BEFORE | unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
	return unix.SyncFileRange(int(f.Fd()), 0, 0, all)
}

// dropCache takes f's pages out of the page cache once they are on disk.
// An object is written once and read at most a few times (a staged upload
// once, by a worker that may be on another machine; a variant by whoever
// fetches it before a CDN caches it), so caching it mostly grows the cache; on a VM that hands free
// memory back to its host (virtio free page reporting, as on this project's
// benchmark machine) each page of that growth costs a fault into the host,
// which doubled the upload path's CPU time (docs/performance.md). Dropped
// pages are reused by the next write while they are still the guest's.
func dropCache(f *os.File) { _ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED) }
