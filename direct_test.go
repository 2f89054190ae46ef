package ximagepipeline_test

// Direct uploads on a real S3 server (versitygw): a token with direct: true
// brings a presigned PUT URL; the client PUTs the file to the bucket, then
// completes, and the complete step runs the upload's checks on the stored
// object before queueing the reserved job.

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
	"github.com/ximagepipeline/ximagepipeline/storage/s3"
)

// newDirectEnv is a pipeline with upload tokens on S3 storage.
func newDirectEnv(t *testing.T, edit func(*xip.Config)) (*env, *s3.Store) {
	t.Helper()
	var st *s3.Store
	e := newEnv(t, func(c *xip.Config) {
		_, st = newS3(t, nil)
		c.Storage = st
		withTokens(c)
		if edit != nil {
			edit(c)
		}
	})
	return e, st
}

// direct is a direct upload's token answer.
type direct struct {
	token, jobID, putURL, completeURL string
	putHeaders                        map[string]any
}

// mintDirect mints a direct upload token for data, failing unless 201.
func (e *env) mintDirect(sourceType, sourceID string, size int, contentType string) direct {
	e.t.Helper()
	body := e.mintOK(map[string]any{"sourceType": sourceType, "sourceId": sourceID, "direct": true, "size": size, "contentType": contentType})
	d := direct{}
	d.token, _ = body["token"].(string)
	d.jobID, _ = body["jobId"].(string)
	d.putURL, _ = body["putUrl"].(string)
	d.completeURL, _ = body["completeUrl"].(string)
	d.putHeaders, _ = body["putHeaders"].(map[string]any)
	if !strings.HasPrefix(d.jobID, "job_") || d.completeURL != e.prefix()+"/uploads/"+d.jobID+"/complete" ||
		!strings.HasPrefix(d.putURL, "http") || d.putHeaders["Content-Length"] != strconv.Itoa(size) || d.putHeaders["Content-Type"] != contentType {
		e.t.Fatalf("direct mint answer: %v", body)
	}
	return d
}

// put sends the file to the presigned URL with its headers, as a browser
// would (Content-Length from the body), and returns the bucket's status.
func (d direct) put(t *testing.T, data []byte) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, d.putURL, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range d.putHeaders {
		if k != "Content-Length" {
			req.Header.Set(k, v.(string))
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// putShort declares the signed Content-Length and sends only data, then
// closes: a client whose connection broke.
func (d direct) putShort(t *testing.T, data []byte) {
	t.Helper()
	u, err := url.Parse(d.putURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %s\r\nContent-Type: %s\r\n\r\n",
		u.RequestURI(), u.Host, d.putHeaders["Content-Length"], d.putHeaders["Content-Type"])
	conn.Write(data)
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
		resp.Body.Close()
	}
}

// complete posts the complete step with a token.
func (e *env) complete(jobID, token string) (int, map[string]any) {
	e.t.Helper()
	return e.send(http.MethodPost, e.prefix()+"/uploads/"+jobID+"/complete", token, "", nil)
}

// stagedKeys are the bucket's keys under staging/.
func stagedKeys(t *testing.T, st *s3.Store) []string {
	t.Helper()
	var out []string
	for _, k := range bucketKeys(t, st) {
		if strings.HasPrefix(k, "staging/") {
			out = append(out, k)
		}
	}
	return out
}

// waitNoStagedKeys waits, within pollDeadline, until nothing is left under
// staging/ in the bucket.
func waitNoStagedKeys(t *testing.T, st *s3.Store) {
	t.Helper()
	for deadline := time.Now().Add(pollDeadline); ; time.Sleep(50 * time.Millisecond) {
		left := stagedKeys(t, st)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still staged after %s: %v", pollDeadline, left)
		}
	}
}

// TestDirectUpload: mint a direct token, PUT the file to the bucket,
// complete, and get the job processed like any upload; every refusal of
// the complete step on the way, with its exact body.
func TestDirectUpload(t *testing.T) {
	t.Parallel()
	e, st := newDirectEnv(t, nil)
	jpg := testimages.JPEG(testimages.Quadrants(600, 400), 90)
	d := e.mintDirect("gallery", "user-9", len(jpg), "image/jpeg")

	code, body := e.complete(d.jobID, d.token)
	assertRefused(t, "complete before the PUT", code, body, 409, "The file has not been uploaded yet: PUT it to putUrl, then complete", "NOT_UPLOADED")
	if status := d.put(t, jpg); status != http.StatusOK {
		t.Fatalf("PUT to the presigned URL: %d", status)
	}
	code, body = e.complete(d.jobID, "")
	assertRefused(t, "complete without a token", code, body, 401, "Invalid upload token: an upload token is required (Authorization: Bearer xut_...)", "TOKEN_INVALID")
	code, body = e.complete("job_other", d.token)
	assertRefused(t, "complete of another job", code, body, 403, "Upload token is not for job job_other", "TOKEN_MISMATCH")
	code, body = e.uploadWith(d.token, file("a.jpg", jpg))
	assertRefused(t, "the direct token on the upload route", code, body, 403, "Upload token is for a direct upload: PUT the file to its putUrl, then POST its completeUrl", "TOKEN_MISMATCH")
	if got := stagedKeys(t, st); len(got) != 1 || got[0] != "staging/"+d.jobID+".put" {
		t.Errorf("staged before the complete: %v, want only the PUT object", got)
	}

	code, body = e.complete(d.jobID, d.token)
	if jobID := e.assertAccepted("complete", code, body); jobID != d.jobID {
		t.Errorf("complete queued %s, want the reserved %s", jobID, d.jobID)
	}
	code, body = e.complete(d.jobID, d.token)
	assertRefused(t, "second complete", code, body, 403, "Upload token already used: ask for a new one", "TOKEN_USED")
	code, body = e.send(http.MethodGet, e.prefix()+"/status/"+d.jobID+"?wait=30s", d.token, "", nil)
	if code != http.StatusOK || body["status"] != "COMPLETE" {
		t.Errorf("status with the token: %d %v, want 200 COMPLETE", code, body)
	}
	assertGalleryOutput(t, e, e.waitMedia(d.jobID), "gallery", "user-9")
	waitNoStagedKeys(t, st)
}

// TestDirectUploadRefusals: what the mint route refuses of a direct
// request, and what the complete step refuses of the stored object (its
// type sniffed, its size against the signed one); a refusal removes the
// object and leaves the token good for a new PUT.
func TestDirectUploadRefusals(t *testing.T) {
	t.Parallel()
	e, st := newDirectEnv(t, nil)
	for _, c := range []struct {
		name      string
		body      map[string]any
		msg, code string
	}{
		{"no size", map[string]any{"sourceType": "gallery", "sourceId": "u", "direct": true}, "size (the file's size in bytes) is required with direct", "INVALID_REQUEST"},
		{"type not allowed", map[string]any{"sourceType": "gallery", "sourceId": "u", "direct": true, "size": 100, "contentType": "image/svg+xml"}, "File type image/svg+xml not allowed", "FILE_TYPE_NOT_ALLOWED"},
		{"over the cap", map[string]any{"sourceType": "gallery", "sourceId": "u", "direct": true, "size": smallLimit + 1, "maxFileSize": smallLimit}, "File too large. Maximum size: 0.25MB", "FILE_TOO_LARGE"},
		{"unknown source type first", map[string]any{"sourceType": "nope", "sourceId": "u", "direct": true}, "Unknown sourceType: nope", "UNKNOWN_SOURCE_TYPE"},
	} {
		code, body := e.mint(c.body)
		assertRefused(t, c.name, code, body, 400, c.msg, c.code)
	}

	// An SVG of the signed length, PUT with the signed (allowed) type: the
	// bytes decide. A photo-sized file (noise): the bucket streams its body,
	// which is what lets a short one through below.
	photo := testimages.JPEG(testimages.Noise(800, 600, 1), 95)
	d := e.mintDirect("gallery", "user-3", len(photo), "image/jpeg")
	svg := append([]byte{}, testimages.SVG...)
	svg = append(svg, bytes.Repeat([]byte(" "), len(photo)-len(svg))...)
	if status := d.put(t, svg); status != http.StatusOK {
		t.Fatalf("PUT: %d", status)
	}
	code, body := e.complete(d.jobID, d.token)
	assertRefused(t, "complete of an SVG", code, body, 400, "File type image/svg+xml not allowed", "FILE_TYPE_NOT_ALLOWED")
	if left := stagedKeys(t, st); len(left) != 0 {
		t.Errorf("staged after the refusal: %v", left)
	}

	// A body shorter than signed: versitygw 1.8.0 keeps it (decisions.md),
	// the complete step refuses it and removes it.
	half := photo[:len(photo)/2]
	d.putShort(t, half)
	if got := stagedKeys(t, st); len(got) != 1 {
		t.Fatalf("after a short PUT the bucket holds %v: the short object this test is about is missing", got)
	}
	code, body = e.complete(d.jobID, d.token)
	assertRefused(t, "complete of a short body", code, body, 400,
		fmt.Sprintf("Upload incomplete: %d of %d bytes stored; PUT the whole file again, then complete", len(half), len(photo)), "INCOMPLETE_UPLOAD")
	if left := stagedKeys(t, st); len(left) != 0 {
		t.Errorf("staged after the refusal: %v", left)
	}
	if jobs, queued := e.countRows(); jobs != 0 || queued != 0 {
		t.Errorf("refusals recorded %d jobs, %d queued", jobs, queued)
	}

	// The token was not spent: the right file, PUT again, completes.
	if status := d.put(t, photo); status != http.StatusOK {
		t.Fatalf("PUT: %d", status)
	}
	code, body = e.complete(d.jobID, d.token)
	e.assertAccepted("complete after two refusals", code, body)
	m := e.waitMedia(d.jobID)
	urls, _ := m["urls"].(map[string]any)
	data, _ := fetchPublic(t, e, urls["md"].(string))
	if img, format := decode(t, data); m["width"] != 800.0 || m["height"] != 600.0 || format != "webp" || img.Bounds().Dx() != 400 || img.Bounds().Dy() != 300 {
		t.Errorf("media %vx%v, md %s %v; want 800x600 and a 400x300 WebP", m["width"], m["height"], format, img.Bounds().Size())
	}
	waitNoStagedKeys(t, st)
}

// TestDirectUploadConcurrentComplete: completes sent at once with one
// token queue one job; the others are refused TOKEN_USED and do not take
// the job's staged file away.
func TestDirectUploadConcurrentComplete(t *testing.T) {
	t.Parallel()
	e, st := newDirectEnv(t, nil)
	jpg := testimages.JPEG(testimages.Quadrants(600, 400), 90)
	d := e.mintDirect("gallery", "user-5", len(jpg), "image/jpeg")
	if status := d.put(t, jpg); status != http.StatusOK {
		t.Fatalf("PUT: %d", status)
	}
	const completes = 8
	var (
		mu               sync.Mutex
		accepted, refuse int
		wg               sync.WaitGroup
		start            = make(chan struct{})
	)
	for range completes {
		wg.Go(func() {
			<-start
			code, body := e.complete(d.jobID, d.token)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case code == http.StatusAccepted && jsonEqual(body, e.acceptedBody(d.jobID)):
				accepted++
			case code == 403 && jsonEqual(body, errBody("Upload token already used: ask for a new one", "TOKEN_USED")):
				refuse++
			default:
				t.Errorf("complete: %d %v", code, body)
			}
		})
	}
	close(start)
	wg.Wait()
	if accepted != 1 || refuse != completes-1 {
		t.Fatalf("%d accepted, %d TOKEN_USED; want 1 and %d", accepted, refuse, completes-1)
	}
	assertGalleryOutput(t, e, e.waitMedia(d.jobID), "gallery", "user-5")
	waitNoStagedKeys(t, st)
}

// TestDirectUploadNeverCompleted: an object PUT but never completed is
// removed by the staging sweep once StagingGrace old (the token's life is
// within it), and its token cannot complete any more.
func TestDirectUploadNeverCompleted(t *testing.T) {
	t.Parallel()
	e, st := newDirectEnv(t, func(c *xip.Config) {
		c.StagingGrace = 5 * time.Second // so token lifetimes are at most 5 s
		c.CleanupInterval = 250 * time.Millisecond
	})
	jpg := testimages.JPEG(testimages.Quadrants(600, 400), 90)
	d := e.mintDirect("gallery", "user-1", len(jpg), "image/jpeg")
	if status := d.put(t, jpg); status != http.StatusOK {
		t.Fatalf("PUT: %d", status)
	}
	if got := stagedKeys(t, st); len(got) != 1 || got[0] != "staging/"+d.jobID+".put" {
		t.Fatalf("after the PUT: %v, want the PUT object", got)
	}
	waitNoStagedKeys(t, st)
	code, body := e.complete(d.jobID, d.token)
	if code != 401 || body["code"] != "TOKEN_EXPIRED" {
		t.Errorf("complete after the sweep: %d %v, want 401 TOKEN_EXPIRED", code, body)
	}
	if jobs, queued := e.countRows(); jobs != 0 || queued != 0 {
		t.Errorf("%d jobs, %d queued; want none", jobs, queued)
	}
}
