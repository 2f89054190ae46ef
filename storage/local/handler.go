package local

import (
	"net/http"
	"path"
	"strconv"
	"strings"
)

// CacheControl is sent with every object Handler serves. Public keys embed
// a fresh media id, so an object never changes under its URL and caches may
// keep it for a year without revalidating.
const CacheControl = "public, max-age=31536000, immutable"

// contentTypes maps the extensions the storage layout writes to their media
// types. It is explicit, rather than mime.TypeByExtension, so the answer does
// not depend on the host's mime.types (Debian's lacks avif in older releases).
var contentTypes = map[string]string{
	".webp": "image/webp",
	".avif": "image/avif",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".png":  "image/png",
	".gif":  "image/gif",
}

// Handler serves GET and HEAD of the stored objects whose keys start with
// one of prefixes; the request path, without its leading '/', is the key.
// Mount it where the public URL points, for example
//
//	mux.Handle("/media/", store.Handler("media/", "originals/"))
//
// or behind http.StripPrefix when the public URL has a path of its own.
//
// A prefix without a trailing '/' gets one, so "media" does not expose
// "media-private/". With no prefixes nothing is served: staged uploads must
// never become public because an argument was forgotten. Anything else
// (other prefixes, invalid keys, directories, temporary files, symlinks out
// of the directory) is a 404, and there are no directory listings.
//
// Responses carry Content-Type from the extension (application/octet-stream
// for unknown ones, with nosniff), the immutable Cache-Control, an ETag and
// Last-Modified, and support Range and conditional requests.
func (s *Store) Handler(prefixes ...string) http.Handler {
	h := &handler{store: s}
	for _, p := range prefixes {
		p = strings.Trim(p, "/")
		if p == "" {
			continue
		}
		h.prefixes = append(h.prefixes, p+"/")
	}
	return h
}

type handler struct {
	store    *Store
	prefixes []string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	key := strings.TrimPrefix(r.URL.Path, "/")
	if !h.exposed(key) || validateKey(key) != nil {
		http.NotFound(w, r)
		return
	}
	f, err := h.store.open(key)
	if err != nil {
		// Missing, a directory, or refused by os.Root (a symlink out of
		// the directory): all the same to a client, and no detail leaks.
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}

	hdr := w.Header()
	ct, ok := contentTypes[strings.ToLower(path.Ext(key))]
	if !ok {
		ct = "application/octet-stream"
	}
	hdr.Set("Content-Type", ct)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", CacheControl)
	// Size and modification time change whenever Put replaces the file.
	hdr.Set("ETag", `"`+strconv.FormatInt(fi.ModTime().UnixNano(), 36)+"-"+strconv.FormatInt(fi.Size(), 36)+`"`)
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

func (h *handler) exposed(key string) bool {
	for _, p := range h.prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}
