package ximagepipeline_test

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// TestTokenOneUploadAtATime: an upload token, in a stranger's browser,
// receives one upload at a time: a second one while the first is still
// arriving is refused at once (409 TOKEN_IN_USE) instead of taking another
// upload slot, so one token cannot hold every slot with dripping bodies;
// other clients keep uploading.
func TestTokenOneUploadAtATime(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *xip.Config) {
		withTokens(c)
		c.MaxConcurrentUploads = 2
		c.DisableWorkers = true
	})
	tok, err := e.p.MintUploadToken(t.Context(), xip.UploadTokenRequest{SourceType: "gallery", SourceID: "mallory"})
	if err != nil {
		t.Fatal(err)
	}
	jpg := testimages.JPEG(testimages.Quadrants(600, 400), 90)
	body, ct := form(file("a.jpg", jpg))

	// The first upload sends its headers and a little of the file, then
	// nothing: it is inside the handler, holding a slot.
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.CloseWithError(errors.New("test over")) })
	go pw.Write(body[:600])
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

	// The same token again, with a file it would refuse (FILE_TYPE_NOT_ALLOWED,
	// which does not spend the token) until the first is in flight.
	var code int
	var got map[string]any
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if code, got = e.uploadWith(tok.Token, file("b.txt", []byte("not an image"))); code != http.StatusBadRequest || time.Now().After(deadline) {
			break
		}
	}
	if want := errBody("Upload token is in use by another upload", "TOKEN_IN_USE"); code != http.StatusConflict || !jsonEqual(got, want) {
		t.Errorf("a second upload with the token while the first arrives: %d %v, want 409 %v", code, got, want)
	}
	fresh, err := e.p.MintUploadToken(t.Context(), xip.UploadTokenRequest{SourceType: "gallery", SourceID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if code, got := e.uploadWith(fresh.Token, file("c.jpg", jpg)); code != http.StatusAccepted {
		t.Errorf("another client's upload meanwhile: %d %v, want 202", code, got)
	}
}

// TestTokenUploadsSendFiles: an upload token cannot make the server fetch
// a url. A refused upload leaves a token good for another, so with URL
// ingest a "one upload" token would be a free outbound request to any host
// of its holder's choosing, again and again until it expires.
func TestTokenUploadsSendFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *xip.Config) { withTokens(c); c.FetchAllow = loopback })
	victim := newImageServer(t, "127.0.0.1:0", serveBytes([]byte("<html>not an image</html>")))
	tok, err := e.p.MintUploadToken(t.Context(), xip.UploadTokenRequest{SourceType: "gallery", SourceID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	want := errBody("Uploads with an upload token send a file, not a url", "URL_INGEST_DISABLED")
	for i := range 3 {
		if code, body := e.uploadWith(tok.Token, field("url", victim.URL+"/"+strconv.Itoa(i))); code != http.StatusBadRequest || !jsonEqual(body, want) {
			t.Errorf("upload %d by url with a token: %d %v, want 400 %v", i, code, body, want)
		}
	}
	if n := victim.hits.Load(); n != 0 {
		t.Errorf("the server sent %d requests for a token holder's url, want none", n)
	}
	// The same url with the server's own trust (no token) is fetched.
	if code, body := e.upload(field("sourceType", "gallery"), field("sourceId", "u"), field("url", victim.URL+"/x")); code != http.StatusBadRequest || body["code"] != "FILE_TYPE_NOT_ALLOWED" {
		t.Errorf("the url without a token: %d %v, want it fetched and refused as text/html", code, body)
	}
}
