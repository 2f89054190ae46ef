package access

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

const prefix = "/image-pipeline"

// serve runs one request through the guard in front of a handler that
// answers 200 "reached".
func serve(c Config, method, path, remote, token string, header map[string]string) *httptest.ResponseRecorder {
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("reached")) })
	r := httptest.NewRequest(method, path, nil)
	r.RemoteAddr = remote
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	c.Wrap(prefix, next).ServeHTTP(w, r)
	return w
}

func mustKey(t *testing.T, s string) Key {
	t.Helper()
	k, err := ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAuthorization(t *testing.T) {
	t.Parallel()
	keys := Config{Keys: []Key{
		mustKey(t, "uploader-0123456789:upload"),
		mustKey(t, "reader-0123456789ab:read"),
		mustKey(t, "admin-0123456789abc"),
	}}
	const local, remote = "127.0.0.1:5000", "203.0.113.7:5000"
	tests := []struct {
		name         string
		cfg          Config
		method, path string
		remote       string
		token        string
		status       int
		code         string
	}{
		{"no keys, loopback client", Config{}, "POST", prefix + "/upload", local, "", 200, ""},
		{"no keys, IPv6 loopback", Config{}, "GET", prefix + "/config", "[::1]:5000", "", 200, ""},
		{"no keys, remote client", Config{}, "POST", prefix + "/upload", remote, "", 401, "UNAUTHORIZED"},
		{"no keys, anonymous allowed", Config{AllowAnonymous: true}, "DELETE", prefix + "/media/m", remote, "", 200, ""},
		{"keys, none given, even on loopback", keys, "GET", prefix + "/status/j", local, "", 401, "UNAUTHORIZED"},
		{"keys, unknown token", keys, "GET", prefix + "/status/j", remote, "nope-nope-nope-nope", 401, "UNAUTHORIZED"},
		{"upload key uploads", keys, "POST", prefix + "/upload", remote, "uploader-0123456789", 200, ""},
		{"upload key cannot read", keys, "GET", prefix + "/media/m", remote, "uploader-0123456789", 403, "FORBIDDEN"},
		{"read key reads", keys, "GET", prefix + "/media?sourceType=a&sourceId=b", remote, "reader-0123456789ab", 200, ""},
		{"read key cannot delete", keys, "DELETE", prefix + "/media/m", remote, "reader-0123456789ab", 403, "FORBIDDEN"},
		{"full key deletes", keys, "DELETE", prefix + "/media/m", remote, "admin-0123456789abc", 200, ""},
		{"stored files are public", keys, "GET", prefix + "/files/media/a/b/m/sm.webp", remote, "", 200, ""},
		{"outside the prefix is not guarded", keys, "GET", "/healthz", remote, "", 200, ""},
		{"the OpenAPI document is public", keys, "GET", prefix + "/openapi.json", remote, "", 200, ""},

		// Upload tokens pass to the routes that take one, for the
		// pipeline to verify; anywhere else they are no key.
		{"token uploads", keys, "POST", prefix + "/upload", remote, "xut_anything", 200, ""},
		{"token completes", keys, "POST", prefix + "/uploads/job_1/complete", remote, "xut_anything", 200, ""},
		{"token reads its status", keys, "GET", prefix + "/status/job_1?wait=30s", remote, "xut_anything", 200, ""},
		{"token reads its events", keys, "GET", prefix + "/events/job_1", remote, "xut_anything", 200, ""},
		{"token without keys, remote", Config{}, "POST", prefix + "/upload", remote, "xut_anything", 200, ""},
		{"token cannot mint", keys, "POST", prefix + "/upload-tokens", remote, "xut_anything", 401, "UNAUTHORIZED"},
		{"token cannot list media", keys, "GET", prefix + "/media?sourceType=a&sourceId=b", remote, "xut_anything", 401, "UNAUTHORIZED"},
		{"token cannot get media", keys, "GET", prefix + "/media/m", remote, "xut_anything", 401, "UNAUTHORIZED"},
		{"token cannot delete", keys, "DELETE", prefix + "/media/m", remote, "xut_anything", 401, "UNAUTHORIZED"},
		{"token cannot read config", keys, "GET", prefix + "/config", remote, "xut_anything", 401, "UNAUTHORIZED"},
		{"token cannot GET the upload route", keys, "GET", prefix + "/upload", remote, "xut_anything", 401, "UNAUTHORIZED"},
		{"token cannot complete a deeper path", keys, "POST", prefix + "/uploads/job_1/complete/x", remote, "xut_anything", 401, "UNAUTHORIZED"},
		{"token cannot read a deeper status path", keys, "GET", prefix + "/status/job_1/x", remote, "xut_anything", 401, "UNAUTHORIZED"},
		{"minting needs the upload permission", keys, "POST", prefix + "/upload-tokens", remote, "reader-0123456789ab", 403, "FORBIDDEN"},
		{"upload key mints", keys, "POST", prefix + "/upload-tokens", remote, "uploader-0123456789", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := serve(tt.cfg, tt.method, tt.path, tt.remote, tt.token, nil)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d (body %s)", w.Code, tt.status, w.Body)
			}
			if tt.code == "" {
				if w.Body.String() != "reached" {
					t.Fatalf("body %q, want the handler reached", w.Body)
				}
				return
			}
			var body map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["code"] != tt.code || body["error"] != messages[tt.code] {
				t.Fatalf("body %s, want code %s and message %q", w.Body, tt.code, messages[tt.code])
			}
		})
	}
}

// messages are the access checks' refusals, as they have always read.
var messages = map[string]string{
	"UNAUTHORIZED": "An API key is required",
	"FORBIDDEN":    "This API key may not do that",
	"RATE_LIMITED": "Too many uploads, retry later",
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"short", "long-enough-token-1:write", "", "xut_looks-like-a-token"} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
	k := mustKey(t, "long-enough-token-1:read, delete")
	if len(k.Permissions) != 2 || k.Permissions[0] != Read || k.Permissions[1] != Delete {
		t.Fatalf("permissions %v", k.Permissions)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	c := Config{CORSOrigins: []string{"https://app.example"}}
	pre := serve(c, "OPTIONS", prefix+"/upload", "127.0.0.1:1", "", map[string]string{
		"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
	})
	if pre.Code != 204 || pre.Header().Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(pre.Header().Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: %d %v", pre.Code, pre.Header())
	}
	other := serve(c, "GET", prefix+"/config", "127.0.0.1:1", "", map[string]string{"Origin": "https://evil.example"})
	if other.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("an origin not listed got CORS headers: %v", other.Header())
	}
}

func TestUploadRateLimit(t *testing.T) {
	t.Parallel()
	c := Config{UploadRate: 0.5, UploadBurst: 2}
	h := c.Wrap(prefix, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	post := func(remote string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", prefix+"/upload", nil)
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := range 2 {
		if w := post("127.0.0.1:1"); w.Code != 200 {
			t.Fatalf("upload %d within the burst: %d", i, w.Code)
		}
	}
	w := post("127.0.0.1:1")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "2" {
		t.Fatalf("third upload: %d Retry-After %q, want 429 and 2", w.Code, w.Header().Get("Retry-After"))
	}
	if w.Body.String() != `{"code":"RATE_LIMITED","error":"Too many uploads, retry later"}`+"\n" {
		t.Fatalf("body %s", w.Body)
	}
	// An upload token does not escape the limit: it counts by address.
	tr := httptest.NewRequest("POST", prefix+"/upload", nil)
	tr.RemoteAddr = "127.0.0.1:1"
	tr.Header.Set("Authorization", "Bearer xut_anything")
	tw := httptest.NewRecorder()
	h.ServeHTTP(tw, tr)
	if tw.Code != http.StatusTooManyRequests {
		t.Fatalf("upload with a token past the limit: %d, want 429", tw.Code)
	}
	if w := post("127.0.0.2:1"); w.Code != 200 {
		t.Fatalf("another client is limited too: %d", w.Code)
	}
	// Reads are never rate limited.
	r := httptest.NewRequest("GET", prefix+"/config", nil)
	r.RemoteAddr = "127.0.0.1:1"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != 200 {
		t.Fatalf("read limited: %d", rec.Code)
	}
}

// unauthorized is the whole body of a 401, as clients have always read it.
const unauthorized = `{"code":"UNAUTHORIZED","error":"An API key is required"}` + "\n"

// TestForwardedLoopbackIsNotLocal: without trusted proxies, a request from
// a loopback peer that carries X-Forwarded-For or Forwarded was relayed by
// something on this host (a reverse proxy) for someone else. It is not
// let in as the local user: without keys it gets the 401 a remote client
// gets. A key, an upload token or --allow-anonymous still let it in.
func TestForwardedLoopbackIsNotLocal(t *testing.T) {
	t.Parallel()
	keys := Config{Keys: []Key{mustKey(t, "admin-0123456789abc")}}
	tests := []struct {
		name   string
		cfg    Config
		remote string
		token  string
		header map[string]string
		status int
	}{
		{"X-Forwarded-For from a remote client", Config{}, "127.0.0.1:5000", "", map[string]string{"X-Forwarded-For": "203.0.113.7"}, 401},
		{"X-Forwarded-For naming loopback", Config{}, "127.0.0.1:5000", "", map[string]string{"X-Forwarded-For": "127.0.0.1"}, 401},
		{"an empty X-Forwarded-For", Config{}, "127.0.0.1:5000", "", map[string]string{"X-Forwarded-For": ""}, 401},
		{"Forwarded (RFC 7239)", Config{}, "127.0.0.1:5000", "", map[string]string{"Forwarded": "for=127.0.0.1;proto=https"}, 401},
		{"IPv6 loopback", Config{}, "[::1]:5000", "", map[string]string{"X-Forwarded-For": "::1"}, 401},
		{"another loopback address", Config{}, "127.0.0.2:5000", "", map[string]string{"X-Forwarded-For": "127.0.0.1"}, 401},
		{"no forwarding header: the local user", Config{}, "127.0.0.1:5000", "", map[string]string{"X-Real-Ip": "203.0.113.7"}, 200},
		{"anonymous allowed", Config{AllowAnonymous: true}, "127.0.0.1:5000", "", map[string]string{"X-Forwarded-For": "203.0.113.7"}, 200},
		{"with a key", keys, "127.0.0.1:5000", "admin-0123456789abc", map[string]string{"X-Forwarded-For": "203.0.113.7"}, 200},
		{"with an upload token", Config{}, "127.0.0.1:5000", "xut_anything", map[string]string{"X-Forwarded-For": "203.0.113.7"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := serve(tt.cfg, "POST", prefix+"/upload", tt.remote, tt.token, tt.header)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d (body %s)", w.Code, tt.status, w.Body)
			}
			if tt.status == 200 {
				if w.Body.String() != "reached" {
					t.Fatalf("body %q, want the handler reached", w.Body)
				}
				return
			}
			if w.Body.String() != unauthorized {
				t.Fatalf("body %s, want %s", w.Body, unauthorized)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="ximagepipeline"` {
				t.Fatalf("WWW-Authenticate %q", got)
			}
		})
	}
}

// trusted are the proxies of the tests behind one: a load balancer's
// network, nginx on this host, and an IPv6 one.
var trusted = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("127.0.0.1/32"),
	netip.MustParsePrefix("2001:db8:ffff::/48"),
}

// TestClientBehindProxy: the client of a request from a trusted proxy is
// the rightmost address of X-Forwarded-For that is not a trusted proxy
// (what the client itself wrote there is ignored); a header missing, empty
// or unparsable there leaves the proxy's own address; a peer that is not
// trusted cannot name another client. Who the client is shows twice: its
// upload-rate bucket (a second upload straight from the address wanted is
// refused, one from the proxy is not), and without keys whether it is let
// in as the local user (200) or refused (401).
func TestClientBehindProxy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		remote string   // the peer
		xff    []string // X-Forwarded-For, one entry a header line
		header map[string]string
		want   string // the client's address
		local  bool
	}{
		{"one hop", "10.0.0.1:5000", []string{"203.0.113.7"}, nil, "203.0.113.7", false},
		{"through several trusted hops", "10.0.0.1:5000", []string{"203.0.113.7, 10.0.0.3,10.0.0.2"}, nil, "203.0.113.7", false},
		{"entries the client wrote are ignored", "10.0.0.1:5000", []string{"127.0.0.1, 198.51.100.9, 203.0.113.7"}, nil, "203.0.113.7", false},
		{"a trusted address the client wrote is no hop", "10.0.0.1:5000", []string{"10.9.9.9, 203.0.113.7, 10.0.0.2"}, nil, "203.0.113.7", false},
		{"every hop trusted: the leftmost", "10.0.0.1:5000", []string{"10.0.0.3, 10.0.0.2"}, nil, "10.0.0.3", false},
		{"header lines read as one list", "10.0.0.1:5000", []string{"198.51.100.9", "203.0.113.7", "10.0.0.2"}, nil, "203.0.113.7", false},
		{"a port after the address", "10.0.0.1:5000", []string{"203.0.113.7:4711"}, nil, "203.0.113.7", false},
		{"IPv4 mapped into IPv6", "10.0.0.1:5000", []string{"::ffff:203.0.113.7"}, nil, "203.0.113.7", false},
		{"IPv6", "[2001:db8:ffff::1]:5000", []string{"2001:db8:1::7, 2001:db8:ffff::2"}, nil, "2001:db8:1::7", false},
		{"IPv6 in brackets with a port", "[2001:db8:ffff::1]:5000", []string{"[2001:db8:1::7]:4711"}, nil, "2001:db8:1::7", false},
		{"IPv4 client of an IPv6 proxy", "[2001:db8:ffff::1]:5000", []string{"203.0.113.7"}, nil, "203.0.113.7", false},
		{"garbage rightmost: the proxy", "10.0.0.1:5000", []string{"203.0.113.7, unknown"}, nil, "10.0.0.1", false},
		{"garbage past the trusted hops: the proxy", "10.0.0.1:5000", []string{"_gateway, 10.0.0.2"}, nil, "10.0.0.1", false},
		{"an empty entry rightmost: the proxy", "10.0.0.1:5000", []string{"203.0.113.7, "}, nil, "10.0.0.1", false},
		{"an empty header: the proxy", "10.0.0.1:5000", []string{""}, nil, "10.0.0.1", false},
		{"no header: the proxy", "10.0.0.1:5000", nil, nil, "10.0.0.1", false},
		{"Forwarded is not read", "10.0.0.1:5000", nil, map[string]string{"Forwarded": "for=203.0.113.7"}, "10.0.0.1", false},
		{"X-Real-Ip is not read", "10.0.0.1:5000", nil, map[string]string{"X-Real-Ip": "203.0.113.7"}, "10.0.0.1", false},
		{"an untrusted peer's header is ignored", "198.51.100.9:5000", []string{"203.0.113.7"}, nil, "198.51.100.9", false},
		{"an untrusted peer cannot claim loopback", "198.51.100.9:5000", []string{"127.0.0.1"}, nil, "198.51.100.9", false},

		// nginx on this host, trusted.
		{"a remote client through the local proxy", "127.0.0.1:5000", []string{"203.0.113.7"}, nil, "203.0.113.7", false},
		{"a remote client claiming loopback through the local proxy", "127.0.0.1:5000", []string{"127.0.0.1, 203.0.113.7"}, nil, "203.0.113.7", false},
		{"a local client through the local proxy", "127.0.0.1:5000", []string{"127.0.0.1"}, nil, "127.0.0.1", true},
		{"the local proxy's garbage is not local", "127.0.0.1:5000", []string{"garbage"}, nil, "127.0.0.1", false},
		{"the local proxy's empty header is not local", "127.0.0.1:5000", []string{""}, nil, "127.0.0.1", false},
		{"the local proxy's Forwarded is not local", "127.0.0.1:5000", nil, map[string]string{"Forwarded": "for=127.0.0.1"}, "127.0.0.1", false},
		{"the local user, nothing forwarded", "127.0.0.1:5000", nil, nil, "127.0.0.1", true},
		{"an untrusted loopback peer forwarding is not local", "127.0.0.2:5000", []string{"127.0.0.1"}, nil, "127.0.0.2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			request := func(remote string, forwarded bool) *http.Request {
				r := httptest.NewRequest("POST", prefix+"/upload", nil)
				r.RemoteAddr = remote
				if forwarded {
					for _, v := range tt.xff {
						r.Header.Add("X-Forwarded-For", v)
					}
					for k, v := range tt.header {
						r.Header.Set(k, v)
					}
				}
				return r
			}
			do := func(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				return w
			}
			reached := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("reached")) })

			// One upload per client and hour.
			limited := Config{AllowAnonymous: true, TrustedProxies: trusted, UploadRate: 1.0 / 3600, UploadBurst: 1}.Wrap(prefix, reached)
			if w := do(limited, request(tt.remote, true)); w.Code != 200 {
				t.Fatalf("first upload: %d %s", w.Code, w.Body)
			}
			peer := netip.MustParseAddrPort(tt.remote).Addr()
			want := netip.MustParseAddr(tt.want)
			if peer != want {
				if w := do(limited, request(tt.remote, false)); w.Code != 200 {
					t.Fatalf("an upload straight from the proxy %s: %d, want 200: the first was counted as the proxy's, not %s's", peer, w.Code, want)
				}
			}
			if w := do(limited, request(netip.AddrPortFrom(want, 5001).String(), false)); w.Code != http.StatusTooManyRequests {
				t.Fatalf("an upload straight from %s: %d, want 429: the first was not counted as its", want, w.Code)
			}

			// Without keys, the local user only.
			w := do(Config{TrustedProxies: trusted}.Wrap(prefix, reached), request(tt.remote, true))
			switch {
			case tt.local && (w.Code != 200 || w.Body.String() != "reached"):
				t.Fatalf("without keys: %d %s, want the local user let in", w.Code, w.Body)
			case !tt.local && (w.Code != 401 || w.Body.String() != unauthorized):
				t.Fatalf("without keys: %d %s, want %s", w.Code, w.Body, unauthorized)
			}
		})
	}
}

// TestUploadRateLimitBehindProxy: behind a trusted proxy each client has
// its own bucket, whether it sends no key or an upload token: two clients
// each get their whole burst, and the one that goes past it gets 429
// RATE_LIMITED with Retry-After while the other, and the proxy's own
// address, still upload. Behind a proxy that is not trusted, every client
// is the proxy.
func TestUploadRateLimitBehindProxy(t *testing.T) {
	t.Parallel()
	post := func(h http.Handler, client, token string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", prefix+"/upload", nil)
		r.RemoteAddr = "10.0.0.1:5000"
		r.Header.Set("X-Forwarded-For", client)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	reached := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for name, token := range map[string]string{"no key": "", "upload token": "xut_anything"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := Config{AllowAnonymous: true, TrustedProxies: trusted, UploadRate: 0.5, UploadBurst: 2}.Wrap(prefix, reached)
			const a, b = "203.0.113.7", "198.51.100.9"
			for i := range 2 {
				for _, client := range []string{a, b} {
					if w := post(h, client, token); w.Code != 200 {
						t.Fatalf("upload %d of %s within its burst: %d %s", i, client, w.Code, w.Body)
					}
				}
			}
			w := post(h, a, token)
			if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "2" {
				t.Fatalf("third upload of %s: %d Retry-After %q, want 429 and 2", a, w.Code, w.Header().Get("Retry-After"))
			}
			if w.Body.String() != `{"code":"RATE_LIMITED","error":"Too many uploads, retry later"}`+"\n" {
				t.Fatalf("body %s", w.Body)
			}
			if w := post(h, "192.0.2.1", token); w.Code != 200 {
				t.Fatalf("a third client behind the proxy: %d, want 200", w.Code)
			}
		})
	}
	t.Run("proxy not trusted", func(t *testing.T) {
		t.Parallel()
		h := Config{AllowAnonymous: true, UploadRate: 0.5, UploadBurst: 2}.Wrap(prefix, reached)
		for i, client := range []string{"203.0.113.7", "198.51.100.9"} {
			if w := post(h, client, ""); w.Code != 200 {
				t.Fatalf("upload %d: %d", i, w.Code)
			}
		}
		if w := post(h, "192.0.2.1", ""); w.Code != http.StatusTooManyRequests {
			t.Fatalf("a third client behind a proxy not trusted: %d, want 429 (the proxy's bucket is spent)", w.Code)
		}
	})
}
