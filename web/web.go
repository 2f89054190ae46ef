// Package web is the dashboard that `ximagepipeline serve` shows at "/": upload
// by drag and drop with progress, each job's live status, a gallery per source
// type and id (BlurHash placeholder, then the right variant through srcset), a
// media's detail with delete, and the configured variants and source types.
//
// It is plain HTML, one JavaScript module and one stylesheet, embedded in the
// binary: no build step, nothing loaded from elsewhere. It only talks to the
// HTTP API, whose prefix it is given.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

var page = template.Must(template.ParseFS(static, "static/index.html"))

// asset is an embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Handler serves the dashboard for the API mounted at apiPrefix (such as
// "/image-pipeline"): the page at "/", its script and stylesheet under
// "/assets/", and 404 for anything else. Mount it as mux.Handle("/", ...)
// next to the API, on the same origin.
func Handler(apiPrefix string) http.Handler {
	apiPrefix = "/" + strings.Trim(apiPrefix, "/")
	if apiPrefix == "/" {
		apiPrefix = ""
	}
	var buf bytes.Buffer
	if err := page.Execute(&buf, struct{ APIPrefix string }{apiPrefix}); err != nil {
		panic(err) // the template is embedded: this cannot happen at run time
	}
	index := newAsset(buf.Bytes(), "text/html; charset=utf-8")
	assets := map[string]asset{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Base(p) == "index.html" {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		assets["/assets/"+strings.TrimPrefix(p, "static/")] = newAsset(b, ct)
		return nil
	})
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		a, ok := assets[r.URL.Path]
		if r.URL.Path == "/" || r.URL.Path == "/index.html" {
			a, ok = index, true
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("ETag", a.etag)
		h.Set("Cache-Control", "no-cache") // revalidate: the ETag makes that cheap
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		// Everything is served from here; only images may come from elsewhere
		// (a CDN set as the public URL of the stored files).
		h.Set("Content-Security-Policy", "default-src 'self'; img-src * data: blob:; "+
			"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}

func newAsset(b []byte, contentType string) asset {
	sum := sha256.Sum256(b)
	return asset{body: b, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}
