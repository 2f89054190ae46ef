package local_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/storage"
	"github.com/ximagepipeline/ximagepipeline/storage/local"
	"github.com/ximagepipeline/ximagepipeline/storage/storagetest"
)

func newStore(t *testing.T, publicURL string) *local.Store {
	t.Helper()
	s, err := local.New(filepath.Join(t.TempDir(), "data"), publicURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		return newStore(t, "https://cdn.example.com/files")
	})
}

func TestLayoutOnDisk(t *testing.T) {
	t.Parallel()
	s := newStore(t, "")
	key := "media/avatar/u1/m1/sm.webp"
	storagetest.MustPut(t, s, key, strings.NewReader("webp bytes"), -1)

	got, err := os.ReadFile(filepath.Join(s.Dir(), filepath.FromSlash(key)))
	if err != nil || string(got) != "webp bytes" {
		t.Fatalf("file for %q = %q, %v; want the object's bytes", key, got, err)
	}
	fi, err := os.Stat(filepath.Join(s.Dir(), filepath.FromSlash(key)))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o044 != 0o044 {
		t.Errorf("file mode %v: want group/other-readable so a web server can serve the tree", perm)
	}
	entries, _ := os.ReadDir(filepath.Join(s.Dir(), "media/avatar/u1/m1"))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the object (no temporary files left)", len(entries))
	}

	// Deleting the last object removes the directories it leaves empty.
	if err := s.Delete(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "media")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after deleting the only object, media/ still exists (err %v)", err)
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		publicURL, key, want string
	}{
		{"https://cdn.example.com", "media/avatar/u1/m1/sm.webp", "https://cdn.example.com/media/avatar/u1/m1/sm.webp"},
		{"https://cdn.example.com/", "media/avatar/u1/m1/sm.webp", "https://cdn.example.com/media/avatar/u1/m1/sm.webp"},
		{"http://localhost:8080/files", "originals/hero/a.b-c_d/m1/original.jpg", "http://localhost:8080/files/originals/hero/a.b-c_d/m1/original.jpg"},
		{"", "media/avatar/u1/m1/sm.webp", "/media/avatar/u1/m1/sm.webp"},
		{"https://cdn.example.com", "media/a b/c#d?.webp", "https://cdn.example.com/media/a%20b/c%23d%3F.webp"},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			t.Parallel()
			s := newStore(t, tc.publicURL)
			if got := s.URL(tc.key); got != tc.want {
				t.Errorf("URL(%q) with publicURL %q = %q, want %q", tc.key, tc.publicURL, got, tc.want)
			}
		})
	}
}

func TestInvalidKeys(t *testing.T) {
	t.Parallel()
	s := newStore(t, "")
	for _, key := range []string{"", "/etc/passwd", "../x", "a/../../x", "a/..", "a//b", "a/", "a\\b", "a/./b", "a/\x00b", "a/.tmp~123"} {
		if err := s.Put(t.Context(), key, strings.NewReader("x"), 1, ""); !errors.Is(err, local.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Get(t.Context(), key); !errors.Is(err, local.ErrInvalidKey) {
			t.Errorf("Get(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := s.Delete(t.Context(), key); !errors.Is(err, local.ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
	for _, prefix := range []string{"/", "../", "a/../", "a//", "a\\b"} {
		err := s.List(t.Context(), prefix, func(storage.Object) error { return nil })
		if !errors.Is(err, local.ErrInvalidKey) {
			t.Errorf("List(%q) = %v, want ErrInvalidKey", prefix, err)
		}
	}
}

// A reader longer than the declared size is as wrong as a shorter one: the
// size came from somewhere (a Content-Length) that lied.
func TestPutRejectsLongerReader(t *testing.T) {
	t.Parallel()
	s := newStore(t, "")
	if err := s.Put(t.Context(), "media/x.webp", strings.NewReader("12345"), 4, ""); err == nil {
		t.Fatal("Put of 5 bytes with size 4 succeeded, want an error")
	}
	if _, err := s.Get(t.Context(), "media/x.webp"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get after failed Put = %v, want ErrNotFound", err)
	}
}

// Symbolic links must not let a key reach outside the directory.
func TestSymlinkEscape(t *testing.T) {
	t.Parallel()
	s := newStore(t, "")
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.webp"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(s.Dir(), "media")); err != nil {
		t.Fatal(err)
	}
	if rc, err := s.Get(t.Context(), "media/secret.webp"); err == nil {
		rc.Close()
		t.Fatal("Get through a symlink out of the directory succeeded")
	}
	if err := s.Put(t.Context(), "media/planted.webp", strings.NewReader("x"), 1, ""); err == nil {
		t.Fatal("Put through a symlink out of the directory succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted.webp")); err == nil {
		t.Fatal("Put wrote outside the directory")
	}
	rec := httptest.NewRecorder()
	s.Handler("media/").ServeHTTP(rec, httptest.NewRequest("GET", "/media/secret.webp", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("Handler through a symlink out of the directory = %d, want 404", rec.Code)
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	s := newStore(t, "")
	objects := map[string][]byte{
		"media/avatar/u1/m1/sm.webp":           storagetest.Bytes("webp", 5000),
		"media/hero/u1/m1/xl.avif":             storagetest.Bytes("avif", 300),
		"originals/gallery/u1/m1/original.jpg": storagetest.Bytes("jpg", 700),
		"originals/gallery/u1/m2/original.PNG": storagetest.Bytes("png", 70),
		"originals/gallery/u1/m3/original.gif": storagetest.Bytes("gif", 7),
		"media/other/u1/m1/file.bin":           storagetest.Bytes("bin", 9),
		"staging/job1":                         []byte("staged upload"),
		"media-private/secret.webp":            []byte("secret"),
	}
	for k, v := range objects {
		storagetest.MustPut(t, s, k, bytes.NewReader(v), int64(len(v)))
	}
	srv := httptest.NewServer(s.Handler("media", "originals/"))
	t.Cleanup(srv.Close)

	tests := []struct {
		name, method, path, rangeHdr string
		wantCode                     int
		wantType                     string
		wantBody                     []byte
	}{
		{"webp", "GET", "/media/avatar/u1/m1/sm.webp", "", 200, "image/webp", objects["media/avatar/u1/m1/sm.webp"]},
		{"avif", "GET", "/media/hero/u1/m1/xl.avif", "", 200, "image/avif", objects["media/hero/u1/m1/xl.avif"]},
		{"jpg", "GET", "/originals/gallery/u1/m1/original.jpg", "", 200, "image/jpeg", objects["originals/gallery/u1/m1/original.jpg"]},
		{"png upper-case extension", "GET", "/originals/gallery/u1/m2/original.PNG", "", 200, "image/png", objects["originals/gallery/u1/m2/original.PNG"]},
		{"gif", "GET", "/originals/gallery/u1/m3/original.gif", "", 200, "image/gif", objects["originals/gallery/u1/m3/original.gif"]},
		{"unknown extension", "GET", "/media/other/u1/m1/file.bin", "", 200, "application/octet-stream", objects["media/other/u1/m1/file.bin"]},
		{"head", "HEAD", "/media/avatar/u1/m1/sm.webp", "", 200, "image/webp", nil},
		{"range", "GET", "/media/avatar/u1/m1/sm.webp", "bytes=100-199", 206, "image/webp", objects["media/avatar/u1/m1/sm.webp"][100:200]},
		{"staging is never served", "GET", "/staging/job1", "", 404, "", nil},
		{"prefix is a directory, not a string prefix", "GET", "/media-private/secret.webp", "", 404, "", nil},
		{"missing", "GET", "/media/avatar/u1/m1/nope.webp", "", 404, "", nil},
		{"directory", "GET", "/media/avatar/u1/m1/", "", 404, "", nil},
		{"directory without slash", "GET", "/media/avatar", "", 404, "", nil},
		{"root", "GET", "/", "", 404, "", nil},
		{"escape", "GET", "/media/..%2f..%2fstaging/job1", "", 404, "", nil},
		{"encoded dot segments", "GET", "/media/%2e%2e/staging/job1", "", 404, "", nil},
		{"post", "POST", "/media/avatar/u1/m1/sm.webp", "", 405, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.rangeHdr != "" {
				req.Header.Set("Range", tc.rangeHdr)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("%s %s = %d, want %d (body %q)", tc.method, tc.path, resp.StatusCode, tc.wantCode, body)
			}
			if tc.wantCode >= 300 {
				if bytes.Contains(body, []byte("staged upload")) || bytes.Contains(body, []byte("secret")) {
					t.Fatalf("error response leaks content: %q", body)
				}
				return
			}
			if got := resp.Header.Get("Content-Type"); got != tc.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tc.wantType)
			}
			if got, want := resp.Header.Get("Cache-Control"), "public, max-age=31536000, immutable"; got != want {
				t.Errorf("Cache-Control = %q, want %q", got, want)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
			}
			if tc.method == "HEAD" {
				if len(body) != 0 {
					t.Errorf("HEAD returned a body of %d bytes", len(body))
				}
				if resp.ContentLength != int64(len(objects["media/avatar/u1/m1/sm.webp"])) {
					t.Errorf("HEAD Content-Length = %d, want the object's size", resp.ContentLength)
				}
				return
			}
			if !bytes.Equal(body, tc.wantBody) {
				t.Errorf("body = %d bytes that differ from the %d stored", len(body), len(tc.wantBody))
			}
		})
	}

	t.Run("conditional", func(t *testing.T) {
		t.Parallel()
		resp, err := http.Get(srv.URL + "/media/avatar/u1/m1/sm.webp")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Fatal("no ETag")
		}
		req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/media/avatar/u1/m1/sm.webp", nil)
		req.Header.Set("If-None-Match", etag)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Fatalf("If-None-Match with the ETag = %d, want 304", resp.StatusCode)
		}
	})
}

// With no prefixes nothing is exposed, so a forgotten argument cannot make
// staged uploads public.
func TestHandlerWithoutPrefixesServesNothing(t *testing.T) {
	t.Parallel()
	s := newStore(t, "")
	storagetest.MustPut(t, s, "media/a.webp", strings.NewReader("x"), 1)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/media/a.webp", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("Handler() served %d, want 404", rec.Code)
	}
}

// Delete prunes empty directories; Puts into the same directories at the
// same time must still succeed (staging/ empties and refills constantly).
func TestPutDeleteRaceOnEmptyDirectories(t *testing.T) {
	t.Parallel()
	s := newStore(t, "")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			key := fmt.Sprintf("staging/deep/er/job%d", i)
			for range 200 {
				if err := s.Put(t.Context(), key, strings.NewReader("x"), 1, ""); err != nil {
					errs <- err
					return
				}
				if err := s.Delete(t.Context(), key); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "staging")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("staging/ left behind after every object was deleted (err %v)", err)
	}
}
