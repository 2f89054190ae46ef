package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/web"
)

func get(t *testing.T, h http.Handler, method, path string, header ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func TestHandlerInjectsPrefix(t *testing.T) {
	for prefix, want := range map[string]string{
		"/image-pipeline": `data-api-prefix="/image-pipeline"`,
		"api/v1/":         `data-api-prefix="/api/v1"`,
		"/":               `data-api-prefix=""`,
		`/a"b<c>`:         `data-api-prefix="/a&#34;b&lt;c&gt;"`, // escaped, never markup
	} {
		res := get(t, web.Handler(prefix), "GET", "/")
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("prefix %q: %d, want %s in\n%.400s", prefix, res.StatusCode, want, body)
		}
		if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("prefix %q: Content-Type %q", prefix, ct)
		}
	}
}

func TestHandlerServesItsFilesOnly(t *testing.T) {
	h := web.Handler("/image-pipeline")
	for path, ct := range map[string]string{
		"/":                   "text/html; charset=utf-8",
		"/index.html":         "text/html; charset=utf-8",
		"/assets/app.js":      "text/javascript; charset=utf-8",
		"/assets/style.css":   "text/css; charset=utf-8",
		"/assets/favicon.svg": "image/svg+xml",
	} {
		res := get(t, h, "GET", path)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != ct {
			t.Errorf("GET %s: %d %q, want 200 %q", path, res.StatusCode, res.Header.Get("Content-Type"), ct)
		}
		if res.Header.Get("Content-Security-Policy") == "" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no security headers: %v", path, res.Header)
		}
		// Revalidation is cheap: the ETag answers 304.
		again := get(t, h, "GET", path, "If-None-Match", res.Header.Get("ETag"))
		if again.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", path, again.StatusCode)
		}
	}
	for _, path := range []string{"/nope", "/assets/", "/assets/../web.go", "/static/app.js", "/assets/index.html"} {
		if res := get(t, h, "GET", path); res.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
	if res := get(t, h, "POST", "/"); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d, want 405", res.StatusCode)
	}
	if res := get(t, h, "HEAD", "/assets/app.js"); res.StatusCode != 200 {
		t.Errorf("HEAD: %d", res.StatusCode)
	}
}
