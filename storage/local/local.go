// Package local stores objects as files in a directory. It is the zero-config
// default: one directory, no service to run, and Handler serves the public
// objects from the same process, so URLs work out of the box.
//
// A key maps to the path dir/key ("media/avatar/u1/m1/sm.webp" becomes
// dir/media/avatar/u1/m1/sm.webp), so the tree can also be served by any web
// server or copied to a bucket as it is. Every file operation goes through an
// os.Root, so neither a crafted key nor a symbolic link can reach outside dir.
//
// Put is atomic: it writes a temporary file (named with the reserved prefix
// ".tmp~") in the object's directory and renames it over the key, so readers
// see the old object, the new one, or none, never a partial file. It returns
// once the object is durable: concurrent Puts share one flush of the file
// system (syncfs) rather than fsyncing each file and directory, and its pages
// leave the page cache (they are read later, if at all). Because the
// rename comes before the flush, a power loss (not a process crash) between
// the two can leave a torn object under the key of a Put that had not
// returned: in the pipeline, a new key nothing refers to yet, or a variant
// being rewritten by a retried job, which writes it again. syncfs flushes
// the file system of the store's directory only: do not mount another file
// system inside it.
// The content type given to Put is not stored: Handler derives it from the
// key's extension, which the storage layout always sets for public objects.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/ximagepipeline/ximagepipeline/storage"
)

// Store is a storage.Storage backed by a local directory. It is safe for
// concurrent use, also by several processes sharing the directory.
type Store struct {
	root      *os.Root
	dir       *os.File // the directory itself, to flush its file system
	publicURL string
	durable   syncGroup
}

var _ storage.Storage = (*Store)(nil)

// New opens (creating it if needed) the directory dir as a store whose public
// URLs are publicURL + "/" + key. publicURL may be empty, making URLs
// host-relative ("/media/..."), which suits a store served by Handler on the
// same server; a trailing slash is ignored.
func New(dir string, publicURL string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("local: directory is required")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("local: create directory: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("local: open directory: %w", err)
	}
	d, err := root.Open(".")
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("local: open directory: %w", err)
	}
	s := &Store{root: root, dir: d, publicURL: strings.TrimRight(publicURL, "/")}
	s.durable.flush = func() error { return flush(d) }
	return s, nil
}

// Close releases the directory handle. The Store must not be used after.
func (s *Store) Close() error { return errors.Join(s.dir.Close(), s.root.Close()) }

// Dir is the directory the store was opened on.
func (s *Store) Dir() string { return s.root.Name() }

// Put writes r to key atomically. With size >= 0 a reader that is shorter or
// longer than size fails the Put; with -1 the reader is copied until EOF.
// Cancelling ctx stops the copy between reads.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (err error) {
	if err := validateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := path.Dir(key)
	f, tmp, err := s.createTemp(dir)
	if err != nil {
		return fmt.Errorf("local: put %q: %w", key, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			s.root.Remove(tmp)
		}
	}()

	src := io.Reader(ctxReader{ctx, r})
	if size >= 0 {
		// One byte more than promised tells a too-long reader from an exact one.
		src = io.LimitReader(src, size+1)
	}
	n, err := io.Copy(f, src)
	if err != nil {
		return fmt.Errorf("local: put %q: %w", key, err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("local: put %q: read %d bytes, want size %d", key, n, size)
	}
	if err := s.root.Rename(tmp, key); err != nil {
		return fmt.Errorf("local: put %q: %w", key, err)
	}
	// The object is complete and visible. The group's flush of the file
	// system makes its name and bytes durable; the file's own check then
	// reports a write error on this file, which a flush reports only to the
	// first caller after it happened.
	if err = errors.Join(s.durable.sync(), flushedErr(f)); err == nil {
		dropCache(f)
	}
	if err = errors.Join(err, f.Close()); err != nil {
		s.root.Remove(key) // a failed Put leaves no object behind
		return fmt.Errorf("local: put %q: sync: %w", key, err)
	}
	return nil
}

// createTemp creates an empty temporary file in dir (relative to the root).
// Delete removes empty directories, so a concurrent Delete can remove dir
// between MkdirAll and the create: that race is retried a few times.
func (s *Store) createTemp(dir string) (*os.File, string, error) {
	var err error
	for i := range 10 {
		// The directory usually exists: create the file first, and make the
		// directories only when that fails for want of them. A concurrent
		// Delete pruning them makes os.Root's MkdirAll fail with ENOENT (a
		// parent vanished before the next level was made) or EEXIST (the
		// last level existed at mkdirat, then vanished before it was
		// checked). Both pass on a retry.
		if i > 0 {
			err = s.root.MkdirAll(dir, 0o755)
		}
		if err == nil {
			var b [12]byte
			rand.Read(b[:])
			tmp := path.Join(dir, tmpPrefix+hex.EncodeToString(b[:]))
			var f *os.File
			if f, err = s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err == nil {
				// The directory holds a file now, so Delete cannot remove it
				// before the rename.
				return f, tmp, nil
			}
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	return nil, "", err
}

// Get opens the file of key. It returns an error wrapping storage.ErrNotFound
// when there is no such object.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := validateKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := s.open(key)
	if err != nil {
		return nil, fmt.Errorf("local: get %q: %w", key, err)
	}
	return f, nil
}

// open opens the regular file of a valid key, mapping every "no such object"
// case (missing, a parent is a file, a directory) to storage.ErrNotFound.
func (s *Store) open(key string) (*os.File, error) {
	f, err := s.root.Open(key)
	if err != nil {
		if isNotExist(err) {
			return nil, storage.ErrNotFound
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, storage.ErrNotFound
	}
	return f, nil
}

// Delete removes the file of key, then the directories that became empty,
// so deleting a media item leaves no empty tree behind. (Put retries when
// this races with its MkdirAll.)
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := validateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fi, err := s.root.Lstat(key)
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return fmt.Errorf("local: delete %q: %w", key, err)
	}
	if fi.IsDir() {
		return nil // a directory is not an object
	}
	if err := s.root.Remove(key); err != nil && !isNotExist(err) {
		return fmt.Errorf("local: delete %q: %w", key, err)
	}
	for dir := path.Dir(key); dir != "."; dir = path.Dir(dir) {
		if s.root.Remove(dir) != nil {
			break // not empty (or already gone): parents are not empty either
		}
	}
	return nil
}

// List walks the deepest directory that the prefix names completely and
// reports the regular files whose key starts with prefix. Files being written
// by Put are skipped.
func (s *Store) List(ctx context.Context, prefix string, fn func(storage.Object) error) error {
	if err := validatePrefix(prefix); err != nil {
		return err
	}
	start := "."
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = prefix[:i]
	}
	fsys := s.root.FS()
	err := fs.WalkDir(fsys, start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if isNotExist(err) {
				return nil // the prefix's directory does not exist, or vanished
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		if d.IsDir() {
			// Prune directories that cannot contain a matching key.
			if p != "." && !strings.HasPrefix(p+"/", prefix) && !strings.HasPrefix(prefix, p+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(p, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if isNotExist(err) {
				return nil // deleted while walking
			}
			return err
		}
		return fn(storage.Object{Key: p, Size: fi.Size(), Modified: fi.ModTime()})
	})
	if err != nil {
		return fmt.Errorf("local: list %q: %w", prefix, err)
	}
	return nil
}

// URL is publicURL + "/" + key, each key segment escaped (a no-op for the
// keys of the storage layout).
func (s *Store) URL(key string) string {
	return s.publicURL + "/" + escapePath(key)
}

// Ping checks that the directory is still there.
func (s *Store) Ping(ctx context.Context) error {
	fi, err := s.root.Stat(".")
	if err != nil {
		return fmt.Errorf("local: ping: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("local: ping: %s is not a directory", s.root.Name())
	}
	return nil
}

// escapePath escapes each '/'-separated segment of key for use in a URL path.
func escapePath(key string) string {
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/")
}

// isNotExist reports "no such object", including ENOTDIR for a key whose
// parent path is a file ("a/b" when "a" is an object).
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// ctxReader stops a copy once ctx is done, so a cancelled Put ends at the
// next Read instead of draining the reader.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
