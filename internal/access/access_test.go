package access

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
