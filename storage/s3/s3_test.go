package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/ximagepipeline/ximagepipeline/storage"
	"github.com/ximagepipeline/ximagepipeline/storage/s3"
	"github.com/ximagepipeline/ximagepipeline/storage/storagetest"
)

// newStore connects to srv's bucket path-style over HTTP, with the smallest
// part size S3 allows so that the suite's 12 MiB objects use several parts.
func newStore(t *testing.T, srv *storagetest.S3Server, modify func(*s3.Config)) *s3.Store {
	t.Helper()
	cfg := s3.Config{
		Endpoint:        srv.Endpoint,
		Bucket:          srv.Bucket,
		Region:          srv.Region,
		AccessKeyID:     srv.AccessKeyID,
		SecretAccessKey: srv.SecretAccessKey,
		PathStyle:       true,
		Insecure:        true,
		PartSize:        5 << 20,
	}
	if modify != nil {
		modify(&cfg)
	}
	s, err := s3.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("s3.New: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	srv := storagetest.StartS3(t)
	storagetest.Run(t, func(t *testing.T) storage.Storage { return newStore(t, srv, nil) })
}

// The suite again through a key prefix, so stripping it in List and adding it
// everywhere else is checked by the same promises.
func TestConformanceWithPrefix(t *testing.T) {
	t.Parallel()
	srv := storagetest.StartS3(t)
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		return newStore(t, srv, func(c *s3.Config) { c.Prefix = "tenant-a/" })
	})
	// Nothing may have been written outside the prefix.
	for obj := range srv.Client.ListObjectsIter(t.Context(), srv.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		if slices.Contains(storagetest.PinnedPrefixes, obj.Key) {
			continue // directory objects made by StartS3
		}
		if !strings.HasPrefix(obj.Key, "tenant-a/") {
			t.Errorf("object %q written outside the prefix tenant-a/", obj.Key)
		}
	}
}

// TestStoredHeaders checks, on the real server, the Content-Type and
// Cache-Control that CDNs and browsers will get for each kind of key.
func TestStoredHeaders(t *testing.T) {
	t.Parallel()
	srv := storagetest.StartS3(t)
	s := newStore(t, srv, nil)
	immutable := "public, max-age=31536000, immutable"
	tests := []struct {
		key, contentType string
		size             int64
		wantCache        string
	}{
		{"media/avatar/u1/m1/sm.webp", "image/webp", 1000, immutable},
		{"media/hero/u1/m1/xl.avif", "image/avif", -1, immutable},
		{"originals/gallery/u1/m1/original.jpg", "image/jpeg", 6 << 20, immutable}, // multipart
		{"originals/gallery/u1/m2/original.png", "image/png", -1, immutable},
		{"staging/job-1", "application/octet-stream", -1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			t.Parallel()
			n := tc.size
			if n < 0 {
				n = 2000
			}
			data := storagetest.Bytes(tc.key, int(n))
			if err := s.Put(t.Context(), tc.key, bytes.NewReader(data), tc.size, tc.contentType); err != nil {
				t.Fatal(err)
			}
			info, err := srv.Client.StatObject(t.Context(), srv.Bucket, tc.key, minio.StatObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if info.ContentType != tc.contentType {
				t.Errorf("Content-Type = %q, want %q", info.ContentType, tc.contentType)
			}
			if got := info.Metadata.Get("Cache-Control"); got != tc.wantCache {
				t.Errorf("Cache-Control = %q, want %q", got, tc.wantCache)
			}
			if info.Size != n {
				t.Errorf("size = %d, want %d", info.Size, n)
			}
		})
	}
}

// TestURLServesObject fetches URL(key) with a plain, anonymous GET, as a
// browser would, from a bucket with a public-read policy.
func TestURLServesObject(t *testing.T) {
	t.Parallel()
	srv := storagetest.StartS3(t)
	srv.AllowAnonymousRead(t, srv.Bucket)
	for _, prefix := range []string{"", "site-1"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			t.Parallel()
			s := newStore(t, srv, func(c *s3.Config) { c.Prefix = prefix })
			key := "media/gallery/user_1.a-b/m1/lg.webp"
			data := storagetest.Bytes(key+prefix, 150_000)
			storagetest.MustPut(t, s, key, bytes.NewReader(data), int64(len(data)))

			want := srv.URL + "/" + srv.Bucket + "/" + key
			if prefix != "" {
				want = srv.URL + "/" + srv.Bucket + "/" + prefix + "/" + key
			}
			u := s.URL(key)
			if u != want {
				t.Fatalf("URL(%q) = %q, want %q", key, u, want)
			}
			resp, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("anonymous GET %s = %d %s", u, resp.StatusCode, body)
			}
			if !bytes.Equal(body, data) {
				t.Fatalf("GET %s = %d bytes that differ from the %d put", u, len(body), len(data))
			}
			if got := resp.Header.Get("Content-Type"); got != "image/webp" {
				t.Errorf("Content-Type = %q, want image/webp", got)
			}
			if got := resp.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control = %q, want the immutable policy", got)
			}
		})
	}
}

// A bucket without the policy must not serve anonymous reads, or the test
// above would prove nothing.
func TestURLPrivateBucketRefusesAnonymous(t *testing.T) {
	t.Parallel()
	srv := storagetest.StartS3(t)
	s := newStore(t, srv, nil)
	storagetest.MustPut(t, s, "media/a/b/c/sm.webp", strings.NewReader("x"), 1)
	resp, err := http.Get(s.URL("media/a/b/c/sm.webp"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatalf("anonymous GET on a private bucket = 200, want a refusal")
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	srv := storagetest.StartS3(t)
	tests := []struct {
		name string
		cfg  func(*s3.Config)
		want string
	}{
		{"public URL", func(c *s3.Config) { c.PublicURL = "https://images.example.com/" }, "https://images.example.com/media/avatar/u1/m1/sm.webp"},
		{"public URL and prefix", func(c *s3.Config) { c.PublicURL = "https://cdn.example.com/img"; c.Prefix = "/prod/" }, "https://cdn.example.com/img/prod/media/avatar/u1/m1/sm.webp"},
		{"path-style", nil, srv.URL + "/" + srv.Bucket + "/media/avatar/u1/m1/sm.webp"},
		{"scheme in endpoint", func(c *s3.Config) { c.Endpoint = "http://" + srv.Endpoint; c.Insecure = false }, srv.URL + "/" + srv.Bucket + "/media/avatar/u1/m1/sm.webp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t, srv, tc.cfg)
			if got := s.URL("media/avatar/u1/m1/sm.webp"); got != tc.want {
				t.Errorf("URL = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	srv := storagetest.StartS3(t)
	base := s3.Config{
		Endpoint: srv.Endpoint, Bucket: srv.Bucket, Region: srv.Region,
		AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey,
		PathStyle: true, Insecure: true,
	}
	tests := []struct {
		name    string
		cfg     func(*s3.Config)
		wantMsg string
	}{
		{"no bucket", func(c *s3.Config) { c.Bucket = "" }, "bucket is required"},
		{"missing bucket", func(c *s3.Config) { c.Bucket = "no-such-bucket" }, "does not exist"},
		{"wrong secret", func(c *s3.Config) { c.SecretAccessKey = "wrong" }, "check Endpoint, Region and credentials"},
		{"half credentials", func(c *s3.Config) { c.SecretAccessKey = "" }, "set both"},
		{"bad scheme", func(c *s3.Config) { c.Endpoint = "ftp://" + srv.Endpoint }, "scheme"},
		{"endpoint with path", func(c *s3.Config) { c.Endpoint = srv.Endpoint + "/bucket" }, "want host[:port]"},
		{"relative public URL", func(c *s3.Config) { c.PublicURL = "cdn.example.com" }, "absolute"},
		{"bad prefix", func(c *s3.Config) { c.Prefix = "a/../b" }, "prefix"},
		{"small parts", func(c *s3.Config) { c.PartSize = 1 << 20 }, "5 MiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := base
			tc.cfg(&cfg)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			_, err := s3.New(ctx, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("New = %v, want an error containing %q", err, tc.wantMsg)
			}
		})
	}
}

func TestPingFailsWhenServerDown(t *testing.T) {
	t.Parallel()
	s, err := s3.New(t.Context(), s3.Config{
		Endpoint: "127.0.0.1:1", Bucket: "b", AccessKeyID: "a", SecretAccessKey: "s",
		PathStyle: true, Insecure: true,
	})
	if err == nil {
		t.Fatalf("New against a closed port succeeded: %v", s)
	}
}

func TestInvalidKey(t *testing.T) {
	t.Parallel()
	srv := storagetest.StartS3(t)
	s := newStore(t, srv, nil)
	for _, key := range []string{"", "/a", "a/../b", "a//b", `a\b`} {
		if err := s.Put(t.Context(), key, strings.NewReader("x"), 1, "image/webp"); !errors.Is(err, s3.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
}

func TestImmutableExcept(t *testing.T) {
	t.Parallel()
	rule := s3.ImmutableExcept("staging/", "tmp/")
	for key, want := range map[string]string{
		"media/a/b/c/sm.webp":          s3.ImmutableCacheControl,
		"originals/a/b/c/original.jpg": s3.ImmutableCacheControl,
		"staging/job1":                 "",
		"tmp/x":                        "",
		"stagingx/y":                   s3.ImmutableCacheControl,
	} {
		if got := rule(key); got != want {
			t.Errorf("rule(%q) = %q, want %q", key, got, want)
		}
	}
}
