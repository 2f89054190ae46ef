// Package access guards the standalone server: API keys with separate
// upload, read and delete permissions, CORS for browser uploads, and a
// per-client upload rate limit. A library user wraps the pipeline's handler
// with their own middleware instead.
//
// The client is the request's peer, or behind a trusted reverse proxy the
// address the proxy's X-Forwarded-For names (Config.TrustedProxies).
//
// A request carrying an upload token ("Authorization: Bearer xut_...")
// instead of a key is let through to the routes a token may use (upload,
// complete a direct upload, the status and events of a job): the pipeline
// verifies the token itself, so this layer needs no secret. The OpenAPI
// document and the stored files need nothing.
package access

import (
	"crypto/subtle"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/ximagepipeline/ximagepipeline/failure"
	"github.com/ximagepipeline/ximagepipeline/uploadtoken"
)

// Permission is what a key may do.
type Permission string

const (
	Upload Permission = "upload"
	Read   Permission = "read"
	Delete Permission = "delete"
)

// Key is an API key (a bearer token) and what it may do.
type Key struct {
	Token       string
	Permissions []Permission
}

// ParseKey reads "TOKEN" (every permission) or "TOKEN:upload,read".
func ParseKey(s string) (Key, error) {
	token, perms, hasPerms := strings.Cut(s, ":")
	if len(token) < 16 {
		return Key{}, fmt.Errorf("api key %q...: use at least 16 characters", token[:min(4, len(token))])
	}
	if strings.HasPrefix(token, uploadtoken.Prefix) {
		return Key{}, fmt.Errorf("api key %q...: must not start with %q, the prefix of upload tokens", token[:4], uploadtoken.Prefix)
	}
	k := Key{Token: token}
	if !hasPerms {
		k.Permissions = []Permission{Upload, Read, Delete}
		return k, nil
	}
	for _, p := range strings.Split(perms, ",") {
		switch perm := Permission(strings.TrimSpace(p)); perm {
		case Upload, Read, Delete:
			k.Permissions = append(k.Permissions, perm)
		default:
			return Key{}, fmt.Errorf("api key permission %q: use upload, read or delete", p)
		}
	}
	return k, nil
}

// Config says how requests are guarded. The zero value lets loopback
// clients in without a key and refuses everyone else, requests a proxy on
// this host forwarded (with X-Forwarded-For or Forwarded) included.
type Config struct {
	// Keys, when any, are required of every API request (the stored files
	// under {prefix}/files/ stay public: pages embed their URLs).
	Keys []Key
	// AllowAnonymous lets clients without a key in from anywhere, with
	// every permission. Only for a server behind an authenticating proxy.
	AllowAnonymous bool
	// CORSOrigins may call the API from a browser ("*" for any).
	CORSOrigins []string
	// UploadRate is the uploads per second allowed to one client (its key,
	// or its address without one), with bursts of UploadBurst. 0: no limit.
	UploadRate  float64
	UploadBurst int
	// TrustedProxies are the reverse proxies (load balancers, sidecars)
	// whose X-Forwarded-For is believed: a request from one of them is
	// from the client that header names, the rightmost address in it
	// that is not itself a trusted proxy. Forwarded (RFC 7239) is not
	// read. Without any, X-Forwarded-For is ignored.
	TrustedProxies []netip.Prefix
}

// Wrap guards the API routes under prefix.
func (c Config) Wrap(prefix string, next http.Handler) http.Handler {
	limits := &limiters{rate: rate.Limit(c.UploadRate), burst: max(c.UploadBurst, 1), m: map[string]*limiter{}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, prefix+"/") {
			next.ServeHTTP(w, r)
			return
		}
		if c.cors(w, r) {
			return // a preflight, answered
		}
		if strings.HasPrefix(r.URL.Path, prefix+"/files/") || r.URL.Path == prefix+"/openapi.json" {
			next.ServeHTTP(w, r)
			return
		}
		client, ok := c.authorize(r, need(r))
		if hasUploadToken(r) && tokenRoute(r, prefix) {
			// The pipeline verifies the token; rate limits go by address.
			addr, _ := c.client(r)
			client, ok = "addr:"+addr, true
		}
		if !ok {
			if client == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="ximagepipeline"`)
				failure.Write(w, failure.ErrUnauthorized)
			} else {
				failure.Write(w, failure.ErrForbidden)
			}
			return
		}
		if c.UploadRate > 0 && r.Method == http.MethodPost {
			if wait := limits.take(client); wait > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
				failure.Write(w, failure.ErrRateLimited)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// hasUploadToken reports whether a request's bearer token is an upload
// token rather than an API key.
func hasUploadToken(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && strings.HasPrefix(token, uploadtoken.Prefix)
}

// tokenRoute reports whether an upload token may be used on a request's
// route: POST {prefix}/upload, POST {prefix}/uploads/{jobId}/complete, GET
// {prefix}/status/{jobId} and GET {prefix}/events/{jobId}.
func tokenRoute(r *http.Request, prefix string) bool {
	path, ok := strings.CutPrefix(r.URL.Path, prefix+"/")
	if !ok {
		return false
	}
	segs := strings.Split(path, "/")
	switch r.Method {
	case http.MethodPost:
		return path == "upload" || (len(segs) == 3 && segs[0] == "uploads" && segs[1] != "" && segs[2] == "complete")
	case http.MethodGet:
		return len(segs) == 2 && (segs[0] == "status" || segs[0] == "events") && segs[1] != ""
	}
	return false
}

// need is the permission a request needs.
func need(r *http.Request) Permission {
	switch r.Method {
	case http.MethodPost:
		return Upload
	case http.MethodDelete:
		return Delete
	}
	return Read
}

// authorize returns the client's identity for rate limiting, and whether
// it may do what it asks. An empty identity means no usable key was given.
func (c Config) authorize(r *http.Request, perm Permission) (string, bool) {
	token, hasToken := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if hasToken {
		for _, k := range c.Keys {
			if subtle.ConstantTimeCompare([]byte(k.Token), []byte(token)) == 1 {
				return "key:" + k.Token, slices.Contains(k.Permissions, perm)
			}
		}
		return "", false
	}
	addr, local := c.client(r)
	if len(c.Keys) == 0 && (c.AllowAnonymous || local) {
		return "addr:" + addr, true
	}
	return "", false
}

// client says who sent a request: its address (what rate limits without a
// key go by), and whether it is the local user, let in without a key when
// there are none. It is the one answer to "who is the client".
//
// It is the peer's address, unless the peer is a trusted proxy: then it is
// the rightmost address of X-Forwarded-For that is not a trusted proxy
// (each proxy appends the address it got the request from, so the entries
// left of the first untrusted one are whatever the client sent), or the
// leftmost when every one is. A header missing, empty or unparsable there
// leaves the peer's address.
//
// A request carrying X-Forwarded-For or Forwarded was relayed by its peer
// on behalf of someone else: unless a trusted proxy's X-Forwarded-For
// names a loopback client, it is not the local user, since the peer's
// address says nothing of who sent it.
func (c Config) client(r *http.Request) (addr string, local bool) {
	peer, ok := parseAddr(r.RemoteAddr)
	if !ok {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr, false
		}
		return host, false
	}
	if c.trusted(peer) {
		if from, ok := c.forwardedFor(r); ok {
			return from.String(), from.IsLoopback()
		}
	}
	forwarded := len(r.Header.Values("X-Forwarded-For")) > 0 || len(r.Header.Values("Forwarded")) > 0
	return peer.String(), peer.IsLoopback() && !forwarded
}

// forwardedFor is the client a trusted proxy's X-Forwarded-For names
// (several header lines read as one list), if it names one.
func (c Config) forwardedFor(r *http.Request) (netip.Addr, bool) {
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseAddr(strings.TrimSpace(hops[i]))
		if !ok {
			return netip.Addr{}, false
		}
		if i == 0 || !c.trusted(a) {
			return a, true
		}
	}
	return netip.Addr{}, false // no hops: Split returns at least one
}

// trusted reports whether a is in one of the trusted proxies' prefixes.
func (c Config) trusted(a netip.Addr) bool {
	a = a.WithZone("")
	for _, p := range c.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseAddr reads an address, with or without a port ("10.1.2.3",
// "10.1.2.3:5000", "2001:db8::1", "[2001:db8::1]:5000"), an IPv4 address
// mapped into IPv6 as the IPv4 one.
func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap(), true
}

// cors sets the CORS headers for allowed origins, and answers preflights.
func (c Config) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || !(slices.Contains(c.CORSOrigins, origin) || slices.Contains(c.CORSOrigins, "*")) {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}

// limiters holds a token bucket per client, forgetting idle ones.
type limiters struct {
	rate  rate.Limit
	burst int
	mu    sync.Mutex
	m     map[string]*limiter
	swept time.Time
}

type limiter struct {
	*rate.Limiter
	last time.Time
}

// take spends a token of client's bucket; when there is none it returns
// how long until there is one.
func (l *limiters) take(client string) time.Duration {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, v := range l.m {
			if now.Sub(v.last) > 10*time.Minute {
				delete(l.m, k)
			}
		}
		l.swept = now
	}
	lim, ok := l.m[client]
	if !ok {
		lim = &limiter{Limiter: rate.NewLimiter(l.rate, l.burst)}
		l.m[client] = lim
	}
	lim.last = now
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d
	}
	return 0
}
