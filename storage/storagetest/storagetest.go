// Package storagetest checks that a storage.Storage keeps the promises the
// pipeline relies on. Run is the conformance suite every adapter's tests call
// (storage/local, storage/s3, and a user's own); StartS3 starts a real S3
// server for tests that need one.
package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/storage"
)

// Run runs the conformance suite against the stores newStore returns.
//
// Every subtest is parallel, calls newStore once, and writes only keys under
// a namespace of its own ("conformance-<random>/..."), so newStore may return
// the same store, or stores sharing one bucket or directory, every time.
// Objects are a few bytes to 12 MiB of pseudo-random data; an S3 adapter with
// a part size of 5 MiB gets multipart uploads of several parts.
func Run(t *testing.T, newStore func(t *testing.T) storage.Storage) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Storage, ns string)
	}{
		{"PutGetRoundTrip", testRoundTrip},
		{"Overwrite", testOverwrite},
		{"LargeStream", testLargeStream},
		{"GetMissing", testGetMissing},
		{"Delete", testDelete},
		{"List", testList},
		{"ListStopsAtError", testListStopsAtError},
		{"FailedPutLeavesNothing", testFailedPut},
		{"FailedOverwriteIsNeverPartial", testFailedOverwrite},
		{"ConcurrentPuts", testConcurrentPuts},
		{"InvalidKeys", testInvalidKeys},
		{"URL", testURL},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t), namespace())
		})
	}
}

// namespace returns a fresh key prefix, so subtests sharing a store never
// see each other's objects.
func namespace() string {
	var b [6]byte
	rand.Read(b[:])
	return "conformance-" + hex.EncodeToString(b[:]) + "/"
}

func testRoundTrip(t *testing.T, s storage.Storage, ns string) {
	sizes := []int{0, 1, 4096, 1<<20 + 7}
	for _, n := range sizes {
		for _, known := range []bool{true, false} {
			name := fmt.Sprintf("%dB/size=%s", n, map[bool]string{true: "known", false: "-1"}[known])
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				key := fmt.Sprintf("%smedia/gallery/u1/m%d-%t/md.webp", ns, n, known)
				data := Bytes(key, n)
				size := int64(n)
				if !known {
					size = -1
				}
				MustPut(t, s, key, onlyReader{bytes.NewReader(data)}, size)
				if got := MustGet(t, s, key); !bytes.Equal(got, data) {
					t.Fatalf("Get(%q) = %d bytes that differ from the %d put", key, len(got), len(data))
				}
			})
		}
	}
}

func testOverwrite(t *testing.T, s storage.Storage, ns string) {
	key := ns + "media/avatar/u1/m1/sm.webp"
	first, second := Bytes("first", 1<<20), Bytes("second", 10)
	MustPut(t, s, key, bytes.NewReader(first), int64(len(first)))
	MustPut(t, s, key, bytes.NewReader(second), int64(len(second)))
	if got := MustGet(t, s, key); !bytes.Equal(got, second) {
		t.Fatalf("after overwrite Get = %d bytes, want the second object's %d", len(got), len(second))
	}
	if got, want := ListKeys(t, s, ns), map[string]int64{key: 10}; !maps.Equal(got, want) {
		t.Fatalf("List after overwrite = %v, want %v", got, want)
	}
}

// testLargeStream puts 12 MiB from a reader that only implements Read, the
// way an upload body arrives, and checks every byte by hash.
func testLargeStream(t *testing.T, s storage.Storage, ns string) {
	const n = 12 << 20
	for _, size := range []int64{-1, n} {
		t.Run(fmt.Sprintf("size=%d", size), func(t *testing.T) {
			t.Parallel()
			key := fmt.Sprintf("%soriginals/hero/u1/m%d/original.jpg", ns, size)
			want := sha256.New()
			MustPut(t, s, key, io.TeeReader(NewReader(key, n), want), size)
			rc, err := s.Get(t.Context(), key)
			if err != nil {
				t.Fatalf("Get(%q): %v", key, err)
			}
			defer rc.Close()
			got := sha256.New()
			m, err := io.Copy(got, rc)
			if err != nil {
				t.Fatalf("reading %q: %v", key, err)
			}
			if m != n || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
				t.Fatalf("Get(%q) = %d bytes (sha256 %x), want %d bytes (sha256 %x)", key, m, got.Sum(nil), n, want.Sum(nil))
			}
		})
	}
}

func testGetMissing(t *testing.T, s storage.Storage, ns string) {
	MustPut(t, s, ns+"media/a/b/c.webp", strings.NewReader("x"), 1)
	for _, key := range []string{
		ns + "media/never/written.webp",
		ns + "media/a/b",          // a "directory" of an existing key
		ns + "media/a/b/c.webp/x", // below an existing key
		ns + "media/a/b/c.web",    // a prefix of an existing key
	} {
		rc, err := s.Get(t.Context(), key)
		if err == nil {
			rc.Close()
			t.Errorf("Get(%q) succeeded, want ErrNotFound", key)
			continue
		}
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want an error wrapping storage.ErrNotFound", key, err)
		}
	}
}

func testDelete(t *testing.T, s storage.Storage, ns string) {
	ctx := t.Context()
	if err := s.Delete(ctx, ns+"media/never/written.webp"); err != nil {
		t.Fatalf("Delete of a missing key = %v, want nil", err)
	}
	key, sibling := ns+"media/x/m1/sm.webp", ns+"media/x/m1/md.webp"
	MustPut(t, s, key, strings.NewReader("gone"), 4)
	MustPut(t, s, sibling, strings.NewReader("kept"), 4)
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete(%q): %v", key, err)
	}
	if _, err := s.Get(ctx, key); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("second Delete(%q) = %v, want nil", key, err)
	}
	if got := string(MustGet(t, s, sibling)); got != "kept" {
		t.Fatalf("sibling after Delete = %q, want %q", got, "kept")
	}
	if got, want := ListKeys(t, s, ns), map[string]int64{sibling: 4}; !maps.Equal(got, want) {
		t.Fatalf("List after Delete = %v, want %v", got, want)
	}
}

func testList(t *testing.T, s storage.Storage, ns string) {
	objects := map[string]int{
		"media/avatar/u1/m1/xs.webp":          64,
		"media/avatar/u1/m1/sm.webp":          150,
		"media/avatar/u10/m2/xs.webp":         10,
		"media/avatar/u2/m3/xs.webp":          3,
		"media/gallery/u1/m4/md.webp":         400,
		"originals/avatar/u1/m1/original.jpg": 1000,
		"staging/job1":                        7,
	}
	var wg sync.WaitGroup
	for k, n := range objects {
		wg.Go(func() { MustPut(t, s, ns+k, bytes.NewReader(Bytes(k, n)), int64(n)) })
	}
	wg.Wait()
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", slices.Collect(maps.Keys(objects))},
		{"media/", []string{"media/avatar/u1/m1/xs.webp", "media/avatar/u1/m1/sm.webp", "media/avatar/u10/m2/xs.webp", "media/avatar/u2/m3/xs.webp", "media/gallery/u1/m4/md.webp"}},
		{"media/avatar/u1/", []string{"media/avatar/u1/m1/xs.webp", "media/avatar/u1/m1/sm.webp"}},
		{"media/avatar/u1", []string{"media/avatar/u1/m1/xs.webp", "media/avatar/u1/m1/sm.webp", "media/avatar/u10/m2/xs.webp"}}, // a string prefix, not a directory
		{"media/avatar/u1/m1/sm.webp", []string{"media/avatar/u1/m1/sm.webp"}},
		{"media/av", []string{"media/avatar/u1/m1/xs.webp", "media/avatar/u1/m1/sm.webp", "media/avatar/u10/m2/xs.webp", "media/avatar/u2/m3/xs.webp"}},
		{"staging/", []string{"staging/job1"}},
		{"media/nothing/", nil},
		{"nothing", nil},
	}
	for _, tc := range tests {
		t.Run(strings.ReplaceAll(tc.prefix, "/", "|"), func(t *testing.T) {
			t.Parallel()
			want := map[string]int64{}
			for _, k := range tc.want {
				want[ns+k] = int64(objects[k])
			}
			got := ListKeys(t, s, ns+tc.prefix)
			if !maps.Equal(got, want) {
				t.Fatalf("List(%q) =\n%v\nwant\n%v", ns+tc.prefix, got, want)
			}
		})
	}
	t.Run("Modified", func(t *testing.T) {
		err := s.List(t.Context(), ns, func(o storage.Object) error {
			if o.Modified.IsZero() {
				return fmt.Errorf("%s has no modification time", o.Key)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func testListStopsAtError(t *testing.T, s storage.Storage, ns string) {
	for i := range 5 {
		MustPut(t, s, fmt.Sprintf("%sstaging/job%d", ns, i), strings.NewReader("x"), 1)
	}
	stop := errors.New("stop here")
	calls := 0
	err := s.List(t.Context(), ns, func(storage.Object) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Fatalf("List = %v, want the callback's error", err)
	}
	if calls != 1 {
		t.Fatalf("callback called %d times after returning an error, want 1", calls)
	}
}

// testFailedPut checks that a Put whose reader fails, whose context is
// cancelled, or whose reader is shorter or longer than the declared size
// returns an error, in time, and leaves no object behind. The readers of
// "cancel" and "long" never end: a Put must not drain them.
func testFailedPut(t *testing.T, s storage.Storage, ns string) {
	errBroken := errors.New("client went away")
	tests := []struct {
		name  string
		size  int64  // declared size
		after int64  // bytes delivered before the failure
		fail  string // "error", "cancel" or "short"
	}{
		{"error/size=known", 2 << 20, 1 << 20, "error"},
		{"error/size=-1", -1, 1 << 20, "error"},
		{"error/size=-1/after-parts", -1, 11 << 20, "error"},
		{"error/size=known/after-parts", 12 << 20, 11 << 20, "error"},
		{"error/immediately", -1, 0, "error"},
		{"cancel/size=known", 2 << 20, 1 << 20, "cancel"},
		{"cancel/size=-1", -1, 1 << 20, "cancel"},
		{"cancel/size=-1/after-parts", -1, 11 << 20, "cancel"},
		{"short/size=known", 2 << 20, 1 << 20, "short"},
		{"long/size=known", 1 << 20, 1 << 40, "long"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			key := fmt.Sprintf("%smedia/failed/%d/lg.webp", ns, i)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var r io.Reader = io.LimitReader(NewReader(key, 1<<40), tc.after)
			switch tc.fail {
			case "error":
				r = io.MultiReader(r, errReader{errBroken})
			case "cancel":
				// Cancel once the bytes are delivered, then keep the
				// reader alive as a client still sending would.
				r = io.MultiReader(r, cancelReader{cancel}, NewReader(key, 1<<40))
			}
			err := s.Put(ctx, key, r, tc.size, "image/webp")
			if err == nil {
				t.Fatalf("Put with a failing reader (%s) succeeded, want an error", tc.fail)
			}
			if _, gerr := s.Get(t.Context(), key); !errors.Is(gerr, storage.ErrNotFound) {
				t.Fatalf("Get after failed Put = %v, want ErrNotFound", gerr)
			}
			if got := ListKeys(t, s, ns+fmt.Sprintf("media/failed/%d/", i)); len(got) != 0 {
				t.Fatalf("List after failed Put = %v, want nothing (no temporary or partial object)", got)
			}
		})
	}
}

// testFailedOverwrite checks that a failed Put over an existing object leaves
// either the old object, whole, or nothing: never a mix or a truncated file.
func testFailedOverwrite(t *testing.T, s storage.Storage, ns string) {
	key := ns + "media/gallery/u1/m1/xl.webp"
	old := Bytes("old", 3<<20)
	MustPut(t, s, key, bytes.NewReader(old), int64(len(old)))
	r := io.MultiReader(io.LimitReader(NewReader("new", 1<<40), 1<<20), errReader{errors.New("broken")})
	if err := s.Put(t.Context(), key, r, -1, "image/webp"); err == nil {
		t.Fatal("Put with a failing reader succeeded, want an error")
	}
	rc, err := s.Get(t.Context(), key)
	if errors.Is(err, storage.ErrNotFound) {
		return
	}
	if err != nil {
		t.Fatalf("Get after failed overwrite: %v", err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading after failed overwrite: %v", err)
	}
	if !bytes.Equal(got, old) {
		t.Fatalf("after failed overwrite Get = %d bytes, want the old %d bytes or nothing", len(got), len(old))
	}
}

// testConcurrentPuts runs distinct-key Puts, same-key Puts and Put/Delete
// churn in one directory at once, as several workers do.
func testConcurrentPuts(t *testing.T, s storage.Storage, ns string) {
	const workers = 12
	shared := ns + "media/shared/m1/md.webp"
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		errs    []error
		payload = make([][]byte, workers)
	)
	record := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	// The churn directory keeps one object throughout: a store whose
	// Delete prunes empty directories is raced by its own tests
	// (storage/local); versitygw v1.8.0 fails such a Put with 409
	// ExistingObjectIsDirectory, which real S3 never does.
	keep := ns + "media/churn/m1/keep.webp"
	MustPut(t, s, keep, strings.NewReader("keep"), 4)
	for i := range workers {
		payload[i] = Bytes(fmt.Sprintf("shared-%d", i), 256<<10+i)
		wg.Go(func() {
			key := fmt.Sprintf("%smedia/distinct/m%d/sm.webp", ns, i)
			if err := s.Put(t.Context(), key, bytes.NewReader(Bytes(key, 64<<10)), 64<<10, "image/webp"); err != nil {
				record(fmt.Errorf("Put(%q): %w", key, err))
			}
		})
		wg.Go(func() {
			if err := s.Put(t.Context(), shared, bytes.NewReader(payload[i]), -1, "image/webp"); err != nil {
				record(fmt.Errorf("Put(%q) #%d: %w", shared, i, err))
			}
		})
		wg.Go(func() {
			// Put and Delete siblings in one directory.
			key := fmt.Sprintf("%smedia/churn/m1/tmp%d.webp", ns, i)
			for range 5 {
				if err := s.Put(t.Context(), key, strings.NewReader("x"), 1, "image/webp"); err != nil {
					record(fmt.Errorf("Put(%q): %w", key, err))
					return
				}
				if err := s.Delete(t.Context(), key); err != nil {
					record(fmt.Errorf("Delete(%q): %w", key, err))
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i := range workers {
		key := fmt.Sprintf("%smedia/distinct/m%d/sm.webp", ns, i)
		if got := MustGet(t, s, key); !bytes.Equal(got, Bytes(key, 64<<10)) {
			t.Errorf("Get(%q) differs from what was put", key)
		}
	}
	got := MustGet(t, s, shared)
	if !slices.ContainsFunc(payload, func(p []byte) bool { return bytes.Equal(p, got) }) {
		t.Errorf("Get(%q) after concurrent Puts = %d bytes matching none of the writers", shared, len(got))
	}
	if got, want := ListKeys(t, s, ns+"media/churn/"), map[string]int64{keep: 4}; !maps.Equal(got, want) {
		t.Errorf("List after Put/Delete churn = %v, want %v", got, want)
	}
}

func testInvalidKeys(t *testing.T, s storage.Storage, ns string) {
	for _, key := range []string{
		"",
		"/" + ns + "absolute.webp",
		ns + "a//b.webp",
		ns + "trailing/",
		"../" + ns + "escape.webp",
		ns + "a/../../escape.webp",
		ns + "a/./b.webp",
		ns + `a\b.webp`,
	} {
		if err := s.Put(t.Context(), key, strings.NewReader("x"), 1, "image/webp"); err == nil {
			t.Errorf("Put(%q) succeeded, want an invalid-key error", key)
		}
		if rc, err := s.Get(t.Context(), key); err == nil {
			rc.Close()
			t.Errorf("Get(%q) succeeded, want an invalid-key error", key)
		}
	}
	if got := ListKeys(t, s, ns); len(got) != 0 {
		t.Errorf("invalid keys left objects: %v", got)
	}
}

// testURL checks what holds for every backend: URL(key) is an absolute or
// host-relative URL ending in "/"+key, with the same base for every key.
// Adapters test their exact base themselves.
func testURL(t *testing.T, s storage.Storage, ns string) {
	var base string
	for i, key := range []string{
		ns + "media/avatar/u1/m1/sm.webp",
		ns + "media/gallery/user_1.a-b/m2/2xl.avif",
		ns + "originals/hero/u1/m3/original.jpg",
	} {
		u := s.URL(key)
		b, ok := strings.CutSuffix(u, "/"+key)
		if !ok {
			t.Errorf("URL(%q) = %q, want it to end in /%s", key, u, key)
			continue
		}
		if _, err := url.Parse(u); err != nil {
			t.Errorf("URL(%q) = %q does not parse: %v", key, u, err)
		}
		if i == 0 {
			base = b
		} else if b != base {
			t.Errorf("URL(%q) has base %q, URL of another key %q", key, b, base)
		}
	}
}

func testPing(t *testing.T, s storage.Storage, _ string) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// MustPut stores r under key (content type image/webp) or fails the test.
func MustPut(t testing.TB, s storage.Storage, key string, r io.Reader, size int64) {
	t.Helper()
	if err := s.Put(t.Context(), key, r, size, "image/webp"); err != nil {
		t.Fatalf("Put(%q, size %d): %v", key, size, err)
	}
}

// MustGet reads the whole object of key or fails the test.
func MustGet(t testing.TB, s storage.Storage, key string) []byte {
	t.Helper()
	rc, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	return b
}

// ListKeys returns key -> size of every object under prefix, failing the
// test on an error or on a key listed twice.
func ListKeys(t testing.TB, s storage.Storage, prefix string) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	err := s.List(t.Context(), prefix, func(o storage.Object) error {
		if _, dup := got[o.Key]; dup {
			return fmt.Errorf("key %q listed twice", o.Key)
		}
		got[o.Key] = o.Size
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return got
}

// Bytes returns n pseudo-random bytes determined by seed, so a test can
// rebuild the expected content instead of keeping it.
func Bytes(seed string, n int) []byte {
	b := make([]byte, n)
	io.ReadFull(NewReader(seed, int64(n)), b)
	return b
}

// NewReader returns a reader of n pseudo-random bytes determined by seed. It
// implements only Read, like a network body, so adapters cannot learn its
// length or seek it.
func NewReader(seed string, n int64) io.Reader {
	return io.LimitReader(onlyReader{mrand.NewChaCha8(sha256.Sum256([]byte(seed)))}, n)
}

// onlyReader hides every method but Read (Len, Seek, WriteTo...).
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// errReader fails every Read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// cancelReader cancels a context when read, then reads as empty.
type cancelReader struct{ cancel context.CancelFunc }

func (c cancelReader) Read([]byte) (int, error) {
	c.cancel()
	return 0, io.EOF
}
