package ximagepipeline_test

// Ingest from a URL: an upload gives a url instead of a file, and the
// pipeline fetches it. The image servers are httptest servers on this
// machine, which the fetch rules refuse unless the operator allows their
// addresses (Config.FetchAllow).

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// imageServer serves handlers on addr ("127.0.0.1:0", "127.0.0.2:0") and
// counts the requests it gets.
type imageServer struct {
	*httptest.Server
	hits atomic.Int64
}

func newImageServer(t *testing.T, addr string, h http.Handler) *imageServer {
	t.Helper()
	s := &imageServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h.ServeHTTP(w, r)
	}))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	s.Listener.Close()
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// serveBytes answers every request with data and a lying Content-Type.
func serveBytes(data []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(data)
	})
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// TestURLIngestRefusedByDefault: addresses on this machine (and the cloud
// metadata address) are refused unless allowed, by address after DNS
// ("localhost"), and never contacted; the answer names no address.
func TestURLIngestRefusedByDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	jpg := testimages.JPEG(testimages.Quadrants(600, 400), 90)
	img := newImageServer(t, "127.0.0.1:0", serveBytes(jpg))
	port := strconv.Itoa(img.Listener.Addr().(*net.TCPAddr).Port)
	const forbidden = "url leads to an address this server does not fetch from (private, loopback, link-local or reserved)"
	for _, u := range []string{
		img.URL + "/a.jpg",
		"http://localhost:" + port + "/a.jpg",
		"http://[::ffff:127.0.0.1]:" + port + "/a.jpg",
		"http://169.254.169.254/latest/meta-data/",
		"http://10.0.0.1/a.jpg",
	} {
		code, body := e.upload(field("sourceType", "gallery"), field("sourceId", "u"), field("url", u))
		assertRefused(t, u, code, body, 400, forbidden, "URL_FORBIDDEN")
	}
	if n := img.hits.Load(); n != 0 {
		t.Errorf("the image server was asked %d times", n)
	}
	_, err := e.p.Upload(t.Context(), xip.UploadRequest{SourceType: "gallery", SourceID: "u", URL: img.URL + "/a.jpg"})
	if !errors.Is(err, xip.ErrURLForbidden) {
		t.Errorf("Upload with a loopback URL: %v, want ErrURLForbidden", err)
	}
	e.assertNothingStaged()
	if jobs, queued := e.countRows(); jobs != 0 || queued != 0 {
		t.Errorf("refusals recorded %d jobs, %d queued", jobs, queued)
	}
}

// TestURLIngest: with the machine's addresses allowed, a url is fetched and
// its image processed like an uploaded one, through HTTP and the Go API;
// a redirect is followed, and one to an address not allowed is refused.
func TestURLIngest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *xip.Config) { c.FetchAllow = loopback })
	jpg := testimages.JPEG(testimages.Quadrants(600, 400), 90)
	img := newImageServer(t, "127.0.0.1:0", serveBytes(jpg))

	code, body := e.upload(field("url", img.URL+"/a.jpg"), field("sourceType", "gallery"), field("sourceId", "user-1"))
	jobID := e.assertAccepted("upload by url", code, body)
	assertGalleryOutput(t, e, e.waitMedia(jobID), "gallery", "user-1")

	jobID, err := e.p.Upload(t.Context(), xip.UploadRequest{SourceType: "gallery", SourceID: "user-2", URL: img.URL + "/b.jpg"})
	if err != nil {
		t.Fatalf("Upload with a URL: %v", err)
	}
	assertGalleryOutput(t, e, e.waitMedia(jobID), "gallery", "user-2")

	redirect := newImageServer(t, "127.0.0.1:0", http.RedirectHandler(img.URL+"/c.jpg", http.StatusFound))
	code, body = e.upload(field("sourceType", "gallery"), field("sourceId", "user-3"), field("url", redirect.URL))
	assertGalleryOutput(t, e, e.waitMedia(e.assertAccepted("upload by a redirecting url", code, body)), "gallery", "user-3")
	e.waitNothingStaged()
}

// TestURLIngestRedirectToForbidden: a server the operator allows (on
// 127.0.0.2) redirects to one it does not (127.0.0.1): refused, and the
// second server never asked.
func TestURLIngestRedirectToForbidden(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *xip.Config) { c.FetchAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")} })
	inner := newImageServer(t, "127.0.0.1:0", serveBytes(testimages.JPEG(testimages.Quadrants(60, 40), 90)))
	outer := newImageServer(t, "127.0.0.2:0", http.RedirectHandler(inner.URL+"/a.jpg", http.StatusFound))
	code, body := e.upload(field("sourceType", "gallery"), field("sourceId", "u"), field("url", outer.URL+"/a.jpg"))
	assertRefused(t, "redirect to a forbidden address", code, body, 400,
		"url leads to an address this server does not fetch from (private, loopback, link-local or reserved)", "URL_FORBIDDEN")
	if outer.hits.Load() != 1 || inner.hits.Load() != 0 {
		t.Errorf("allowed server asked %d times, forbidden one %d; want 1 and 0", outer.hits.Load(), inner.hits.Load())
	}
	e.assertNothingStaged()
}

// TestURLIngestRefusals: every refusal of an upload by url, with its exact
// body (which never names an address): the fields are checked before
// anything is fetched, the fetched bytes as an uploaded file's.
func TestURLIngestRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *xip.Config) {
		c.FetchAllow = loopback
		c.MaxFileSize = smallLimit
		c.FetchTimeout = 300 * time.Millisecond
		c.UploadTokenSecret = testSecret
	})
	jpg := testimages.JPEG(testimages.Quadrants(600, 400), 90)
	img := newImageServer(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/a.jpg":
			w.Write(jpg)
		case "/svg":
			w.Header().Set("Content-Type", "image/jpeg") // lies: the bytes decide
			w.Write(testimages.SVG)
		case "/big":
			w.Write(testimages.Pad(jpg, smallLimit+1)) // with Content-Length
		case "/big-chunked":
			w.(http.Flusher).Flush() // no Content-Length: found while reading
			w.Write(testimages.Pad(jpg, smallLimit+1))
		case "/huge":
			w.Write(testimages.HugePNG(20000, 20000))
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/ftp":
			http.Redirect(w, r, "ftp://example.com/a.jpg", http.StatusFound)
		case "/slow":
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		default:
			http.NotFound(w, r)
		}
	}))
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String() + "/a.jpg"
	closed.Close()

	st, sid := field("sourceType", "gallery"), field("sourceId", "u")
	url := func(path string) part { return field("url", img.URL+path) }
	cases := []struct {
		name      string
		parts     []part
		msg, code string
	}{
		{"both a file and a url", []part{st, sid, url("/a.jpg"), file("a.jpg", jpg)}, "Send either a file or a url, not both", "INVALID_REQUEST"},
		{"a file, then a url", []part{st, sid, file("a.jpg", jpg), url("/a.jpg")}, "Send either a file or a url, not both", "INVALID_REQUEST"},
		{"an empty url is no file", []part{st, sid, field("url", "")}, "No file provided", "NO_FILE"},
		{"missing fields, never fetched", []part{url("/a.jpg"), st}, "sourceType and sourceId are required", "MISSING_FIELDS"},
		{"unknown source type, never fetched", []part{url("/a.jpg"), field("sourceType", "nope"), sid}, "Unknown sourceType: nope", "UNKNOWN_SOURCE_TYPE"},
		{"bad source id, never fetched", []part{st, field("sourceId", ".."), url("/a.jpg")}, "Invalid sourceId", "INVALID_SOURCE_ID"},
	}
	const invalidURL = "url must be an absolute http:// or https:// URL without credentials, its host a name or a plain IP address"
	for _, u := range []string{"ftp://example.com/a.jpg", "/a.jpg", "http://user:pw@example.com/a.jpg", "http://2130706433/", "http://0177.0.0.1/", "javascript:alert(1)", "http://" + string(bytes.Repeat([]byte("a"), 9000))} {
		cases = append(cases, struct {
			name      string
			parts     []part
			msg, code string
		}{"invalid url " + u[:min(len(u), 40)], []part{st, sid, field("url", u)}, invalidURL, "URL_INVALID"})
	}
	for _, c := range cases {
		code, body := e.upload(c.parts...)
		assertRefused(t, c.name, code, body, 400, c.msg, c.code)
	}
	if n := img.hits.Load(); n != 0 {
		t.Errorf("refused before fetching, yet the server was asked %d times", n)
	}

	for _, c := range []struct {
		name, url string
		msg, code string
	}{
		{"not found", img.URL + "/nothing", "Could not fetch url: the server answered 404", "URL_FETCH_FAILED"},
		{"connection refused", closedURL, "Could not fetch url: the server could not be reached or the connection failed", "URL_FETCH_FAILED"},
		{"redirect loop", img.URL + "/loop", "Could not fetch url: more than 3 redirects", "URL_FETCH_FAILED"},
		{"redirect to ftp", img.URL + "/ftp", "Could not fetch url: it redirects to a URL that is not fetched", "URL_FETCH_FAILED"},
		{"too slow", img.URL + "/slow", "Fetching url took longer than 300ms", "URL_TIMEOUT"},
		{"an SVG served as JPEG", img.URL + "/svg", "File type image/svg+xml not allowed", "FILE_TYPE_NOT_ALLOWED"},
		{"too large, announced", img.URL + "/big", "File too large. Maximum size: 0.25MB", "FILE_TOO_LARGE"},
		{"too large, found reading", img.URL + "/big-chunked", "File too large. Maximum size: 0.25MB", "FILE_TOO_LARGE"},
		{"too many pixels", img.URL + "/huge", "Image too large. Maximum: 100 megapixels", "IMAGE_TOO_LARGE"},
	} {
		code, body := e.upload(st, sid, field("url", c.url))
		assertRefused(t, c.name, code, body, 400, c.msg, c.code)
	}

	// An upload token sends a file: its url is not fetched
	// (TestTokenUploadsSendFiles says why).
	tok, err := e.p.MintUploadToken(t.Context(), xip.UploadTokenRequest{SourceType: "gallery", SourceID: "u", MaxFileSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	code, body := e.uploadWith(tok.Token, url("/a.jpg"))
	assertRefused(t, "a url with a token", code, body, 400, "Uploads with an upload token send a file, not a url", "URL_INGEST_DISABLED")

	e.assertNothingStaged()
	if jobs, queued := e.countRows(); jobs != 0 || queued != 0 {
		t.Errorf("refusals recorded %d jobs, %d queued", jobs, queued)
	}
	// The token was not spent by the refusal: with a file it uploads.
	small := testimages.JPEG(testimages.Quadrants(30, 20), 50)
	if len(small) > 1000 {
		t.Fatalf("test image of %d bytes is over the token's cap", len(small))
	}
	code, body = e.uploadWith(tok.Token, file("s.jpg", small))
	e.assertAccepted("the capped token with a small file", code, body)
}

// TestURLIngestDisabled: an operator who turns URL ingest off gets
// URL_INGEST_DISABLED, and nothing is fetched.
func TestURLIngestDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *xip.Config) {
		c.DisableURLIngest = true
		c.FetchAllow = loopback
	})
	img := newImageServer(t, "127.0.0.1:0", serveBytes(testimages.JPEG(testimages.Quadrants(60, 40), 90)))
	code, body := e.upload(field("sourceType", "gallery"), field("sourceId", "u"), field("url", img.URL))
	assertRefused(t, "url with ingest off", code, body, 400, "Uploads from a URL are disabled on this server", "URL_INGEST_DISABLED")
	if n := img.hits.Load(); n != 0 {
		t.Errorf("the image server was asked %d times", n)
	}
}
