package s3_test

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/ximagepipeline/ximagepipeline/storage"
	"github.com/ximagepipeline/ximagepipeline/storage/s3"
	"github.com/ximagepipeline/ximagepipeline/storage/storagetest"
)

// sendPresigned sends a request as a client holding a presigned URL would:
// the given headers (but Content-Length, which net/http takes from the body)
// and body.
// It returns the status and S3's error code, if any.
func sendPresigned(t *testing.T, method, rawURL string, h http.Header, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		if k == "Content-Length" {
			continue // net/http sends req.ContentLength, from the body
		}
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	var e struct{ Code string }
	xml.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Code
}

// objectSize is the stored object's size, or -1 when there is none.
func objectSize(t *testing.T, srv *storagetest.S3Server, key string) int64 {
	t.Helper()
	info, err := srv.Client.StatObject(t.Context(), srv.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if minio.ToErrorResponse(err).StatusCode == http.StatusNotFound {
			return -1
		}
		t.Fatalf("stat %q: %v", key, err)
	}
	return info.Size
}

func TestPresignPut(t *testing.T) {
	t.Parallel()
	srv := storagetest.StartS3(t)
	s := newStore(t, srv, nil)
	var _ storage.Presigner = s

	const size = 100_000
	key := "staging/job_direct"
	data := storagetest.Bytes(key, size)
	u, h, err := s.PresignPut(t.Context(), key, size, "image/jpeg", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if h.Get("Content-Length") != "100000" || h.Get("Content-Type") != "image/jpeg" || h.Get("Cache-Control") != "" {
		t.Errorf("headers = %v, want Content-Length 100000, Content-Type image/jpeg, no Cache-Control under staging/", h)
	}
	signed := strings.Split(mustParse(t, u).Query().Get("X-Amz-SignedHeaders"), ";")
	for _, want := range []string{"content-length", "content-type", "host"} {
		if !contains(signed, want) {
			t.Errorf("X-Amz-SignedHeaders = %q, want %s among them", signed, want)
		}
	}

	if status, code := sendPresigned(t, http.MethodPut, u, h, bytes.NewReader(data)); status != http.StatusOK {
		t.Fatalf("PUT with the right body: %d %s", status, code)
	}
	info, err := srv.Client.StatObject(t.Context(), srv.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != size || info.ContentType != "image/jpeg" {
		t.Errorf("stored: %d bytes of %q, want %d of image/jpeg", info.Size, info.ContentType, size)
	}
	rc, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Error("stored bytes differ from those sent")
	}

	// The URL cannot be turned into another operation on the object.
	if status, code := sendPresigned(t, http.MethodDelete, u, nil, nil); status != http.StatusForbidden {
		t.Errorf("DELETE with the PUT's URL: %d %s, want 403", status, code)
	}
	if n := objectSize(t, srv, key); n != size {
		t.Errorf("after the refused DELETE the object has %d bytes, want %d", n, size)
	}
}

// TestPresignPutRefusals changes one thing at a time in a PUT made with a
// presigned URL; the server must refuse each, and write nothing.
func TestPresignPutRefusals(t *testing.T) {
	t.Parallel()
	srv := storagetest.StartS3(t)
	const size = 50_000
	tests := []struct {
		name string
		// change returns the URL, headers and body to send instead.
		change func(u string, h http.Header, data []byte) (string, http.Header, io.Reader)
		// otherKey, when set, is the key the changed request aims at.
		otherKey string
	}{
		{"one byte more", func(u string, h http.Header, data []byte) (string, http.Header, io.Reader) {
			return u, h, bytes.NewReader(append(data, 'x'))
		}, ""},
		{"one byte less", func(u string, h http.Header, data []byte) (string, http.Header, io.Reader) {
			return u, h, bytes.NewReader(data[:size-1])
		}, ""},
		{"ten times more", func(u string, h http.Header, data []byte) (string, http.Header, io.Reader) {
			return u, h, bytes.NewReader(bytes.Repeat(data, 10))
		}, ""},
		{"empty body", func(u string, h http.Header, data []byte) (string, http.Header, io.Reader) {
			return u, h, http.NoBody
		}, ""},
		{"chunked, no length", func(u string, h http.Header, data []byte) (string, http.Header, io.Reader) {
			return u, h, io.MultiReader(bytes.NewReader(data)) // not a *bytes.Reader: net/http sends it chunked
		}, ""},
		{"other content type", func(u string, h http.Header, data []byte) (string, http.Header, io.Reader) {
			h = h.Clone()
			h.Set("Content-Type", "image/svg+xml")
			return u, h, bytes.NewReader(data)
		}, ""},
		{"no content type", func(u string, h http.Header, data []byte) (string, http.Header, io.Reader) {
			h = h.Clone()
			h.Del("Content-Type")
			return u, h, bytes.NewReader(data)
		}, ""},
		{"other key", func(u string, h http.Header, data []byte) (string, http.Header, io.Reader) {
			return strings.Replace(u, "/staging/job_refused", "/media/avatar/victim/med_1/sm.webp", 1), h, bytes.NewReader(data)
		}, "media/avatar/victim/med_1/sm.webp"},
		{"sibling key", func(u string, h http.Header, data []byte) (string, http.Header, io.Reader) {
			return strings.Replace(u, "/staging/job_refused", "/staging/job_refused2", 1), h, bytes.NewReader(data)
		}, "staging/job_refused2"},
		{"longer expiry", func(u string, h http.Header, data []byte) (string, http.Header, io.Reader) {
			return strings.Replace(u, "X-Amz-Expires=300", "X-Amz-Expires=3000", 1), h, bytes.NewReader(data)
		}, ""},
		{"multipart part", func(u string, h http.Header, data []byte) (string, http.Header, io.Reader) {
			return u + "&partNumber=1&uploadId=x", h, bytes.NewReader(data)
		}, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Each case in a namespace of its own, so "nothing written"
			// is about this case's keys alone.
			ns := fmt.Sprintf("case%d", i)
			sub := newStore(t, srv, func(c *s3.Config) { c.Prefix = ns })
			data := storagetest.Bytes(tc.name, size)
			u, h, err := sub.PresignPut(t.Context(), "staging/job_refused", size, "image/png", 5*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			cu, ch, body := tc.change(u, h, data)
			if cu == u && tc.otherKey != "" {
				t.Fatal("the URL was not changed: fix the test")
			}
			status, code := sendPresigned(t, http.MethodPut, cu, ch, body)
			if status != http.StatusForbidden && status != http.StatusBadRequest && status != http.StatusLengthRequired {
				t.Errorf("status %d %s, want a refusal", status, code)
			}
			t.Logf("refused: %d %s", status, code)
			for _, k := range []string{"staging/job_refused", tc.otherKey} {
				if k == "" {
					continue
				}
				if n := objectSize(t, srv, ns+"/"+k); n != -1 {
					t.Errorf("%s/%s was written (%d bytes)", ns, k, n)
				}
			}
		})
	}
}

// rawPut sends a PUT with a presigned URL over a bare connection, declaring
// the signed Content-Length but sending body, whatever its length, then
// half-closes. It returns the first answer's status, or 0 when the server
// just closed.
func rawPut(t *testing.T, rawURL string, h http.Header, body []byte) int {
	t.Helper()
	pu := mustParse(t, rawURL)
	conn, err := net.Dial("tcp", pu.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %s\r\nContent-Type: %s\r\n\r\n",
		pu.RequestURI(), pu.Host, h.Get("Content-Length"), h.Get("Content-Type"))
	conn.Write(body)
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPresignPutBodyLongerThanLength declares the signed length and sends
// more: the server reads the declared bytes only, so the URL can never
// store more than it was signed for.
func TestPresignPutBodyLongerThanLength(t *testing.T) {
	t.Parallel()
	srv := storagetest.StartS3(t)
	s := newStore(t, srv, nil)
	const size = 50_000
	key := "staging/job_long"
	u, h, err := s.PresignPut(t.Context(), key, size, "image/png", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	data := storagetest.Bytes(key, size+10_000)
	t.Logf("first answer: %d", rawPut(t, u, h, data))
	rc, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("the declared bytes were not stored: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data[:size]) {
		t.Errorf("stored %d bytes, want exactly the %d declared", len(got), size)
	}
}

// TestPresignPutBodyShorterThanLength declares the signed length, sends
// less, and closes. AWS S3 answers 400 IncompleteBody; versitygw 1.8.0
// answers 200 and keeps the short object: fasthttp's streamed request body
// (v1.73.0, requestStream.Read) passes the connection's io.EOF through
// before Content-Length bytes, and the posix backend's PutObject copies to
// EOF without comparing the count with the length. So a direct upload's
// complete step must compare the stored object's size with the size it
// signed, as this test does; it fails if the stored object is anything but
// absent or exactly the bytes sent.
func TestPresignPutBodyShorterThanLength(t *testing.T) {
	t.Parallel()
	srv := storagetest.StartS3(t)
	s := newStore(t, srv, nil)
	const size = 50_000
	key := "staging/job_short"
	u, h, err := s.PresignPut(t.Context(), key, size, "image/png", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	data := storagetest.Bytes(key, size-1000)
	status := rawPut(t, u, h, data)
	switch n := objectSize(t, srv, key); n {
	case -1:
		t.Logf("answer %d, nothing stored", status)
	case int64(len(data)):
		t.Logf("answer %d, the short body was stored (%d of %d bytes): the size check at completion is needed", status, n, size)
	default:
		t.Errorf("answer %d, stored %d bytes: neither nothing nor the %d sent", status, n, len(data))
	}
}

func TestPresignPutExpired(t *testing.T) {
	t.Parallel()
	srv := storagetest.StartS3(t)
	s := newStore(t, srv, nil)
	key := "staging/job_late"
	u, h, err := s.PresignPut(t.Context(), key, 10, "image/gif", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	signedAt, err := time.Parse("20060102T150405Z", mustParse(t, u).Query().Get("X-Amz-Date"))
	if err != nil {
		t.Fatal(err)
	}
	// The server's clock is this machine's; its check has one-second
	// steps, so wait a second more than the URL's life.
	time.Sleep(time.Until(signedAt.Add(2 * time.Second)))
	status, code := sendPresigned(t, http.MethodPut, u, h, bytes.NewReader(make([]byte, 10)))
	if status != http.StatusForbidden {
		t.Errorf("expired URL: %d %s, want 403", status, code)
	}
	if n := objectSize(t, srv, key); n != -1 {
		t.Errorf("an expired URL wrote %d bytes", n)
	}
}

// TestPresignPutHeaders checks the prefix and the Cache-Control the object
// gets, the same as Put would give it.
func TestPresignPutHeaders(t *testing.T) {
	t.Parallel()
	srv := storagetest.StartS3(t)
	s := newStore(t, srv, func(c *s3.Config) { c.Prefix = "tenant-b" })
	key := "media/gallery/u1/med_1/md.webp"
	u, h, err := s.PresignPut(t.Context(), key, 1234, "image/webp", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if h.Get("Cache-Control") != s3.ImmutableCacheControl {
		t.Fatalf("Cache-Control = %q, want %q", h.Get("Cache-Control"), s3.ImmutableCacheControl)
	}
	noCache := h.Clone()
	noCache.Del("Cache-Control")
	if status, code := sendPresigned(t, http.MethodPut, u, noCache, bytes.NewReader(make([]byte, 1234))); status != http.StatusForbidden {
		t.Errorf("PUT without the signed Cache-Control: %d %s, want 403", status, code)
	}
	if status, code := sendPresigned(t, http.MethodPut, u, h, bytes.NewReader(make([]byte, 1234))); status != http.StatusOK {
		t.Fatalf("PUT: %d %s", status, code)
	}
	info, err := srv.Client.StatObject(t.Context(), srv.Bucket, "tenant-b/"+key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != 1234 || info.ContentType != "image/webp" || info.Metadata.Get("Cache-Control") != s3.ImmutableCacheControl {
		t.Errorf("stored %d bytes, %q, Cache-Control %q", info.Size, info.ContentType, info.Metadata.Get("Cache-Control"))
	}
}

func TestPresignPutInvalid(t *testing.T) {
	t.Parallel()
	srv := storagetest.StartS3(t)
	s := newStore(t, srv, nil)
	tests := []struct {
		name        string
		key         string
		size        int64
		contentType string
		expiry      time.Duration
	}{
		{"empty", "staging/a", 0, "image/png", time.Minute},
		{"negative size", "staging/a", -1, "image/png", time.Minute},
		{"over 5 GiB", "staging/a", 5<<30 + 1, "image/png", time.Minute},
		{"no content type", "staging/a", 10, "", time.Minute},
		{"bad content type", "staging/a", 10, "image/png; x", time.Minute},
		{"no expiry", "staging/a", 10, "image/png", 0},
		{"expiry under a second", "staging/a", 10, "image/png", 999 * time.Millisecond},
		{"expiry over 7 days", "staging/a", 10, "image/png", 7*24*time.Hour + time.Second},
		{"bad key", "../a", 10, "image/png", time.Minute},
		{"empty key", "", 10, "image/png", time.Minute},
	}
	for _, tc := range tests {
		if u, _, err := s.PresignPut(t.Context(), tc.key, tc.size, tc.contentType, tc.expiry); err == nil {
			t.Errorf("%s: PresignPut = %q, want an error", tc.name, u)
		}
	}
	if _, _, err := s.PresignPut(t.Context(), "staging/a", 5<<30, "image/png", 7*24*time.Hour); err != nil {
		t.Errorf("the limits themselves: %v", err)
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
