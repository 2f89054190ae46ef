package ximagepipeline_test

// Security review tests (review-sec): each proves one finding.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
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
