package ximagepipeline_test

// Security review tests (review-sec): each proves one finding.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
	"github.com/ximagepipeline/ximagepipeline/storage/local"
)

// unreachableStaging is a local store whose reads of staged uploads fail
// the way an S3 client's do when its endpoint is down: the error names the
// endpoint's address.
type unreachableStaging struct{ *local.Store }

func (s unreachableStaging) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if strings.HasPrefix(key, "staging/") {
		return nil, fmt.Errorf("s3: get %q: %w", key, &net.OpError{Op: "dial", Net: "tcp",
			Addr: &net.TCPAddr{IP: net.IPv4(10, 20, 30, 40), Port: 9000}, Err: syscall.ECONNREFUSED})
	}
	return s.Store.Get(ctx, key)
}

// TestSecFailedStatusNamesInternalAddress: a job that fails on storage
// shows the storage client's error text in its FAILED status, which the
// browser holding the upload token reads (and webhooks carry): here the
// internal S3 endpoint's address. The README: "No message names an
// address the server resolved or connected to: those go to the log."
func TestSecFailedStatusNamesInternalAddress(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ls, err := local.New(dir+"/files", "")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvIn(t, dir, func(c *xip.Config) {
		withTokens(c)
		c.Storage = unreachableStaging{ls}
		c.MaxAttempts = 1
	})
	tok, err := e.p.MintUploadToken(t.Context(), xip.UploadTokenRequest{SourceType: "gallery", SourceID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	code, body := e.uploadWith(tok.Token, file("a.jpg", testimages.JPEG(testimages.Quadrants(60, 40), 90)))
	id := e.assertAccepted("upload", code, body)
	for deadline := time.Now().Add(pollDeadline); ; time.Sleep(50 * time.Millisecond) {
		code, body = e.send(http.MethodGet, e.prefix()+"/status/"+id, tok.Token, "", nil)
		if body["status"] == "FAILED" || time.Now().After(deadline) {
			break
		}
	}
	if msg, _ := body["error"].(string); body["status"] != "FAILED" || strings.Contains(msg, "10.20.30.40") {
		t.Errorf("status as the token's browser sees it: %d %v", code, body)
	}
}

// rfcHost is a library host that follows the README ("lets a request
// whose Authorization is Bearer xut_... through to upload, complete,
// status and events") the way RFC 7235 reads an Authorization header: the
// scheme in any case, then the credentials. Anything else needs the host's
// own key.
func rfcHost(next http.Handler, appKey string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if strings.EqualFold(scheme, "Bearer") && strings.HasPrefix(strings.TrimSpace(cred), "xut_") {
			next.ServeHTTP(w, r) // the pipeline verifies upload tokens
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+appKey {
			http.Error(w, `{"error":"Unauthorized","code":"UNAUTHORIZED"}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// TestSecTokenHeaderFailsOpen: a header the host takes for an upload token
// but the pipeline does not (the scheme in another case, two spaces, the
// prefix in capitals) was handled as a request without a token, which the
// pipeline trusts as vouched for by the host: another owner's job status,
// an upload for any owner. Whatever looks like an upload token must be
// verified as one.
func TestSecTokenHeaderFailsOpen(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withTokens)
	victim, err := e.p.Upload(t.Context(), xip.UploadRequest{SourceType: "gallery", SourceID: "alice",
		File: bytes.NewReader(testimages.JPEG(testimages.Quadrants(60, 40), 90))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rfcHost(e.p.Handler(), "host-app-key-0123456789"))
	t.Cleanup(srv.Close)
	jpg := testimages.JPEG(testimages.Quadrants(60, 40), 90)
	for _, auth := range []string{"bearer xut_forged", "Bearer  xut_forged", "BEARER xut_forged"} {
		for _, req := range []*http.Request{
			httptest.NewRequest(http.MethodGet, srv.URL+e.prefix()+"/status/"+victim, nil),
			httptest.NewRequest(http.MethodGet, srv.URL+e.prefix()+"/events/"+victim, nil),
			func() *http.Request {
				body, ct := form(field("sourceType", "avatar"), field("sourceId", "bob"), file("a.jpg", jpg))
				r := httptest.NewRequest(http.MethodPost, srv.URL+e.prefix()+"/upload", bytes.NewReader(body))
				r.Header.Set("Content-Type", ct)
				return r
			}(),
		} {
			req.RequestURI = ""
			req.Header.Set("Authorization", auth)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with %q: %d, want 401 TOKEN_INVALID", req.Method, req.URL.Path, auth, resp.StatusCode)
			}
		}
	}
}
