package ximagepipeline_test

// Security review (review-sec): tests proving findings that are not fixed
// on this branch. They fail; they are skipped unless XIP_REVIEW_OPEN=1.

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

func openFinding(t *testing.T) {
	t.Helper()
	if os.Getenv("XIP_REVIEW_OPEN") == "" {
		t.Skip("open security finding (not fixed on this branch): XIP_REVIEW_OPEN=1 runs it")
	}
}

// TestSecSlowDripHoldsSlots: one upload token, handed to an untrusted
// browser, opens MaxConcurrentUploads uploads at once (the token is spent
// only at commit) and sends a few bytes of each, then nothing. Nothing
// bounds how long an upload may take, so the slots stay taken long after
// the token expired, and every other client gets 503 BUSY.
func TestSecSlowDripHoldsSlots(t *testing.T) {
	openFinding(t)
	t.Parallel()
	e := newEnv(t, func(c *xip.Config) {
		withTokens(c)
		c.MaxConcurrentUploads = 2
		c.DisableWorkers = true
	})
	tok, err := e.p.MintUploadToken(t.Context(), xip.UploadTokenRequest{SourceType: "gallery", SourceID: "mallory", ExpiresIn: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	jpg := testimages.JPEG(testimages.Quadrants(600, 400), 90)
	body, ct := form(file("a.jpg", jpg))
	for range 2 {
		pr, pw := io.Pipe()
		t.Cleanup(func() { pw.CloseWithError(errors.New("test over")) })
		go pw.Write(body[:600]) // the part's headers and a little of the file
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+e.prefix()+"/upload", pr)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		go func() {
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	time.Sleep(3 * time.Second) // the token has expired by now

	fresh, err := e.p.MintUploadToken(t.Context(), xip.UploadTokenRequest{SourceType: "gallery", SourceID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	code, got := e.uploadWith(fresh.Token, file("b.jpg", jpg))
	if code != http.StatusAccepted {
		t.Errorf("another client's upload, 2 s after the dripping uploads' token expired: %d %v; "+
			"one token's stalled uploads hold every upload slot with no time limit", code, got)
	}
}

// TestSecTokenURLFetchesUnbounded: one upload token, handed to a browser
// for "one upload", makes the server fetch any public URL again and again:
// a refused upload does not spend the token, and a url whose body is not
// an image is refused after the fetch. Until it expires (up to an hour),
// the token is a free outbound GET to arbitrary hosts, as many at once as
// there are upload slots, from the server's address.
func TestSecTokenURLFetchesUnbounded(t *testing.T) {
	openFinding(t)
	t.Parallel()
	e := newEnv(t, func(c *xip.Config) { withTokens(c); c.FetchAllow = loopback })
	victim := newImageServer(t, "127.0.0.1:0", serveBytes([]byte("<html>not an image</html>")))
	tok, err := e.p.MintUploadToken(t.Context(), xip.UploadTokenRequest{SourceType: "gallery", SourceID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	const tries = 20
	for i := range tries {
		code, body := e.uploadWith(tok.Token, field("url", victim.URL+"/"+strconv.Itoa(i)))
		if code != 400 || body["code"] != "FILE_TYPE_NOT_ALLOWED" {
			t.Fatalf("upload %d: %d %v", i, code, body)
		}
	}
	if n := victim.hits.Load(); n > 1 {
		t.Errorf("one upload token made the server send %d requests to a host of the client's choosing", n)
	}
}
