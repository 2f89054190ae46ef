package main

import (
	"io"
	"net/http"
	"testing"
)

// TestServeBehindProxy runs serve as it runs behind nginx on the same
// host. Without --trusted-proxy, a request the proxy forwarded (it carries
// X-Forwarded-For) is refused like a remote client's, while the local user
// still gets in. With the proxy trusted (from the environment), the client
// is the one its X-Forwarded-For names: a local one gets in, a remote one
// is refused, and each has its own upload-rate bucket.
func TestServeBehindProxy(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	const unauthorized = `{"code":"UNAUTHORIZED","error":"An API key is required"}` + "\n"
	do := func(s *server, method, path, xff string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, s.base()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	plain := startServer(t, bin, nil, "--data-dir", t.TempDir(), "--workers=false")
	if code, body := do(plain, "GET", "/config", ""); code != 200 {
		t.Fatalf("the local user without a key: %d %s, want 200", code, body)
	}
	if code, body := do(plain, "GET", "/config", "203.0.113.7"); code != 401 || body != unauthorized {
		t.Fatalf("forwarded, no trusted proxy: %d %s, want 401 %s", code, body, unauthorized)
	}

	proxied := startServer(t, bin, []string{"TRUSTED_PROXY=127.0.0.1 10.0.0.0/8"},
		"--data-dir", t.TempDir(), "--workers=false", "--upload-rate", "0.001", "--upload-burst", "1")
	if code, body := do(proxied, "GET", "/config", "127.0.0.2"); code != 200 {
		t.Fatalf("a local client through the trusted proxy: %d %s, want 200", code, body)
	}
	if code, body := do(proxied, "GET", "/config", "127.0.0.2, 203.0.113.7"); code != 401 || body != unauthorized {
		t.Fatalf("a remote client through the trusted proxy: %d %s, want 401 %s", code, body, unauthorized)
	}
	// An empty upload is refused by the pipeline (400), after the guard
	// counted it.
	for _, client := range []string{"127.0.0.2", "127.0.0.3"} {
		if code, body := do(proxied, "POST", "/upload", client); code != 400 {
			t.Fatalf("first upload of %s: %d %s, want 400 (past the guard)", client, code, body)
		}
	}
	if code, body := do(proxied, "POST", "/upload", "127.0.0.2"); code != 429 {
		t.Fatalf("second upload of 127.0.0.2: %d %s, want 429", code, body)
	}
}
