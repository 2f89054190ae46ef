package ximagepipeline_test

// Shared helpers of the root package's black-box tests: a pipeline per test
// in its own temporary directory, mounted in an httptest.Server; multipart
// uploads built part by part; status polling with a deadline; and readers of
// the WebP RIFF and JPEG segment structures to prove metadata is gone.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "golang.org/x/image/webp" // registers WebP with image.Decode
	_ "modernc.org/sqlite"      // to look into the pipeline's database

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/queue"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// pollDeadline bounds every wait for a job: generous, never asserted.
const pollDeadline = 30 * time.Second

// quietLogger discards the pipeline's logs; XIP_TEST_LOG=1 shows them.
func quietLogger() *slog.Logger {
	if os.Getenv("XIP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// env is one test's pipeline, its data directory and its HTTP server.
type env struct {
	t   *testing.T
	dir string
	p   *xip.Pipeline
	srv *httptest.Server
	cfg xip.Config
}

// newEnv starts a pipeline in t.TempDir() with quiet logs and a short
// retry backoff; edit changes the config first. Everything stops at the
// end of the test.
func newEnv(t *testing.T, edit func(*xip.Config)) *env {
	t.Helper()
	return newEnvIn(t, t.TempDir(), edit)
}

func newEnvIn(t *testing.T, dir string, edit func(*xip.Config)) *env {
	t.Helper()
	cfg := xip.Config{
		DataDir:      dir,
		Logger:       quietLogger(),
		RetryBackoff: 10 * time.Millisecond,
		Concurrency:  2,
	}
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := xip.New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e := &env{t: t, dir: dir, p: p, cfg: cfg}
	t.Cleanup(func() { e.close() })
	mux := http.NewServeMux()
	mux.Handle(e.prefix()+"/", p.Handler())
	e.srv = httptest.NewServer(answers.record(e.prefix(), mux)) // checked against openapi.json (TestMain)
	t.Cleanup(e.srv.Close)
	return e
}

// sub returns the same pipeline and server seen from a subtest, so that
// parallel subtests can share one pipeline and report their own failures.
func (e *env) sub(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// close stops the pipeline; calling it again does nothing.
func (e *env) close() {
	if e.p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.p.Close(ctx); err != nil {
		e.t.Errorf("Close: %v", err)
	}
	e.p = nil
}

// prefix is the configured route prefix as the pipeline normalises it:
// one leading slash, no trailing one.
func (e *env) prefix() string {
	if e.cfg.Prefix == "" {
		return xip.DefaultPrefix
	}
	return "/" + strings.Trim(e.cfg.Prefix, "/")
}

// part is one multipart part: a field when filename is empty and
// contentType is empty, else a file.
type part struct {
	name        string
	filename    string
	contentType string
	data        []byte
}

func field(name, value string) part { return part{name: name, data: []byte(value)} }

func file(filename string, data []byte) part {
	return part{name: "file", filename: filename, contentType: "application/octet-stream", data: data}
}

// form builds a multipart body of parts, in order.
func form(parts ...part) (body []byte, contentType string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		if p.filename != "" || p.contentType != "" {
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, p.name, p.filename))
			h.Set("Content-Type", p.contentType)
		} else {
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q`, p.name))
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			panic(err)
		}
		w.Write(p.data)
	}
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// upload posts parts to the upload route and returns the status code and
// the decoded JSON body.
func (e *env) upload(parts ...part) (int, map[string]any) {
	e.t.Helper()
	body, ct := form(parts...)
	return e.post(ct, bytes.NewReader(body))
}

func (e *env) post(contentType string, body io.Reader) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+e.prefix()+"/upload", body)
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return e.do(req)
}

// uploadOK uploads an image and returns its job id, failing unless 202.
func (e *env) uploadOK(sourceType, sourceID, filename string, data []byte) string {
	e.t.Helper()
	code, body := e.upload(field("sourceType", sourceType), field("sourceId", sourceID), file(filename, data))
	if code != http.StatusAccepted {
		e.t.Fatalf("upload %s: %d %v", filename, code, body)
	}
	id, _ := body["jobId"].(string)
	want := map[string]any{
		"jobId":     id,
		"message":   "File uploaded. Processing started.",
		"statusUrl": e.prefix() + "/status/" + id,
	}
	if id == "" || !jsonEqual(body, want) {
		e.t.Fatalf("upload %s: body %v, want %v", filename, body, want)
	}
	return id
}

// do sends req and decodes a JSON answer (nil for an empty body).
func (e *env) do(req *http.Request) (int, map[string]any) {
	e.t.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(raw) == 0 {
		return resp.StatusCode, nil
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		e.t.Errorf("%s %s: Content-Type %q, want JSON; body %q", req.Method, req.URL.Path, ct, raw)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		e.t.Fatalf("%s %s: %d, body is not a JSON object: %v: %q", req.Method, req.URL.Path, resp.StatusCode, err, raw)
	}
	return resp.StatusCode, m
}

func (e *env) get(path string) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(req)
}

func (e *env) delete(path string) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodDelete, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(req)
}

// fetch GETs a URL the pipeline gave (relative to the server or absolute)
// and returns its bytes and Content-Type, failing unless 200.
func (e *env) fetch(url string) ([]byte, string) {
	e.t.Helper()
	code, data, ct := e.fetchAny(url)
	if code != http.StatusOK {
		e.t.Fatalf("GET %s: %d %q", url, code, data)
	}
	return data, ct
}

func (e *env) fetchAny(url string) (int, []byte, string) {
	e.t.Helper()
	if strings.HasPrefix(url, "/") {
		url = e.srv.URL + url
	}
	resp, err := e.srv.Client().Get(url)
	if err != nil {
		e.t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, data, resp.Header.Get("Content-Type")
}

// status GETs a job's status.
func (e *env) status(jobID string) (int, map[string]any) {
	e.t.Helper()
	return e.get(e.prefix() + "/status/" + jobID)
}

// wait polls a job's status until it leaves 202 (PENDING, PROCESSING),
// within pollDeadline, and returns the final answer.
func (e *env) wait(jobID string) (int, map[string]any) {
	e.t.Helper()
	deadline := time.Now().Add(pollDeadline)
	for {
		code, body := e.status(jobID)
		if code != http.StatusAccepted {
			return code, body
		}
		if s := body["status"]; s != "PENDING" && s != "PROCESSING" {
			e.t.Fatalf("status %s: 202 with status %v", jobID, s)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s still %v after %s", jobID, body["status"], pollDeadline)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitMedia waits for a job to complete and returns its media object.
func (e *env) waitMedia(jobID string) map[string]any {
	e.t.Helper()
	code, body := e.wait(jobID)
	if code != http.StatusOK || body["status"] != "COMPLETE" {
		e.t.Fatalf("job %s: %d %v, want 200 COMPLETE", jobID, code, body)
	}
	m, ok := body["media"].(map[string]any)
	if !ok {
		e.t.Fatalf("job %s: COMPLETE without media: %v", jobID, body)
	}
	return m
}

// files lists the regular files (and anything else but directories) under
// data/files/{sub}, relative to it; none when it does not exist.
func (e *env) files(sub string) []string {
	e.t.Helper()
	root := filepath.Join(e.dir, "files", sub)
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, path)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// assertNothingStaged fails when anything, even a temporary file, is left
// under the staging directory.
func (e *env) assertNothingStaged() {
	e.t.Helper()
	if f := e.files("staging"); len(f) > 0 {
		e.t.Errorf("left under data/files/staging: %v", f)
	}
}

// waitNothingStaged waits, within pollDeadline, until nothing is left
// under the staging directory. A worker removes a job's staged upload just
// after recording its outcome, so a client may see the outcome first.
func (e *env) waitNothingStaged() {
	e.t.Helper()
	e.waitNoFiles("staging")
}

// waitNoFiles waits, within pollDeadline, until no file is left under
// data/files/{sub} for each sub.
func (e *env) waitNoFiles(subs ...string) {
	e.t.Helper()
	deadline := time.Now().Add(pollDeadline)
	for {
		var left []string
		for _, sub := range subs {
			left = append(left, e.files(sub)...)
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Errorf("still under data/files/%v after %s: %v", subs, pollDeadline, left)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countRows counts the ximage_jobs rows and the queue's process jobs, read
// from the pipeline's SQLite file by a connection of the test's own.
func (e *env) countRows() (jobs, queued int) {
	e.t.Helper()
	db := openDB(e.t, e.dir)
	defer db.Close()
	if err := db.QueryRow(`SELECT count(*) FROM ximage_jobs`).Scan(&jobs); err != nil {
		e.t.Fatal(err)
	}
	entries, err := queue.Entries(context.Background(), db, queue.KindProcess)
	if err != nil {
		e.t.Fatal(err)
	}
	return jobs, len(entries)
}

func openDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "ximagepipeline.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// jsonEqual compares two JSON-like values after a round trip, so that Go
// values (ints, structs) compare with decoded ones (float64, maps).
func jsonEqual(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return false
	}
	var va, vb any
	json.Unmarshal(ja, &va)
	json.Unmarshal(jb, &vb)
	na, _ := json.Marshal(va) // maps marshal with sorted keys
	nb, _ := json.Marshal(vb)
	return bytes.Equal(na, nb)
}

// errBody is the contract's refusal body.
func errBody(message, code string) map[string]any {
	return map[string]any{"error": message, "code": code}
}

// decode decodes a fetched image (JPEG, PNG, GIF or WebP).
func decode(t *testing.T, data []byte) (image.Image, string) {
	t.Helper()
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode: %v (%d bytes, starting %q)", err, len(data), data[:min(16, len(data))])
	}
	if format == "webp" {
		img = limitedRange(img)
	}
	return img, format
}

// limitedRange fixes the colours of lossy WebP as golang.org/x/image/webp
// decodes it: VP8 stores limited-range BT.601 YCbCr, which the decoder
// hands out as image.YCbCr, whose conversion assumes full range (black is
// lifted to 16, white lowered to 235; golang/go#40173). Lossless WebP
// decodes to NRGBA and is returned as it is.
func limitedRange(img image.Image) image.Image {
	var yc *image.YCbCr
	var alpha []uint8
	var astride int
	switch m := img.(type) {
	case *image.YCbCr:
		yc = m
	case *image.NYCbCrA:
		yc, alpha, astride = &m.YCbCr, m.A, m.AStride
	default:
		return img
	}
	b := yc.Rect
	out := image.NewNRGBA(b)
	clamp := func(v float64) uint8 { return uint8(math.Round(math.Max(0, math.Min(255, v)))) }
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			Y := 1.164 * (float64(yc.Y[yc.YOffset(x, y)]) - 16)
			ci := yc.COffset(x, y)
			cb, cr := float64(yc.Cb[ci])-128, float64(yc.Cr[ci])-128
			a := uint8(255)
			if alpha != nil {
				a = alpha[(y-b.Min.Y)*astride+(x-b.Min.X)]
			}
			out.SetNRGBA(x, y, color.NRGBA{clamp(Y + 1.596*cr), clamp(Y - 0.813*cr - 0.391*cb), clamp(Y + 2.018*cb), a})
		}
	}
	return out
}

// webpChunks checks data is a well-formed RIFF WEBP file and returns the
// FourCCs of its chunks, and the flags of its VP8X chunk (0 without one).
func webpChunks(t *testing.T, data []byte) (chunks []string, vp8xFlags byte) {
	t.Helper()
	if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
		t.Fatalf("not a RIFF WEBP file: starts %q", data[:min(12, len(data))])
	}
	if n := binary.LittleEndian.Uint32(data[4:8]); int(n)+8 != len(data) {
		t.Errorf("RIFF size %d, file has %d bytes after the header", n, len(data)-8)
	}
	for i := 12; i < len(data); {
		if i+8 > len(data) {
			t.Fatalf("truncated chunk header at %d", i)
		}
		fourcc := string(data[i : i+4])
		size := int(binary.LittleEndian.Uint32(data[i+4 : i+8]))
		if i+8+size > len(data) {
			t.Fatalf("chunk %q of %d bytes overruns the file", fourcc, size)
		}
		if fourcc == "VP8X" && size >= 1 {
			vp8xFlags = data[i+8]
		}
		chunks = append(chunks, fourcc)
		i += 8 + size + size&1
	}
	return chunks, vp8xFlags
}

// VP8X flags.
const (
	vp8xICC   = 0x20
	vp8xAlpha = 0x10
	vp8xEXIF  = 0x08
	vp8xXMP   = 0x04
)

// assertCleanWebP fails unless data is a WebP without EXIF, XMP or ICC.
func assertCleanWebP(t *testing.T, name string, data []byte) (hasAlpha bool) {
	t.Helper()
	chunks, flags := webpChunks(t, data)
	for _, c := range chunks {
		switch c {
		case "EXIF", "XMP ", "ICCP":
			t.Errorf("%s: has a %q chunk (chunks %v)", name, c, chunks)
		}
	}
	if flags&(vp8xEXIF|vp8xXMP|vp8xICC) != 0 {
		t.Errorf("%s: VP8X flags %#x announce metadata", name, flags)
	}
	return flags&vp8xAlpha != 0
}

// jpegSegments returns the markers and payloads of a JPEG's segments up to
// its first scan.
func jpegSegments(t *testing.T, data []byte) (markers []byte, payloads [][]byte) {
	t.Helper()
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		t.Fatalf("not a JPEG")
	}
	for i := 2; ; {
		for i < len(data) && data[i] == 0xFF && i+1 < len(data) && data[i+1] == 0xFF {
			i++
		}
		if i+4 > len(data) || data[i] != 0xFF {
			t.Fatalf("JPEG: marker expected at %d", i)
		}
		m := data[i+1]
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if i+2+n > len(data) {
			t.Fatalf("JPEG: segment %#x overruns", m)
		}
		markers = append(markers, m)
		payloads = append(payloads, data[i+4:i+2+n])
		if m == 0xDA {
			return markers, payloads
		}
		i += 2 + n
	}
}

// assertCleanJPEG fails if a JPEG has an EXIF or XMP APP1, an IPTC APP13,
// or a comment.
func assertCleanJPEG(t *testing.T, name string, data []byte) {
	t.Helper()
	markers, payloads := jpegSegments(t, data)
	for i, m := range markers {
		p := payloads[i]
		switch {
		case m == 0xE1 && bytes.HasPrefix(p, []byte("Exif\x00")):
			t.Errorf("%s: has an EXIF APP1 segment", name)
		case m == 0xE1 && bytes.HasPrefix(p, []byte("http://ns.adobe.com/xap/1.0/")):
			t.Errorf("%s: has an XMP APP1 segment", name)
		case m == 0xE1:
			t.Errorf("%s: has an APP1 segment %q", name, p[:min(20, len(p))])
		case m == 0xED:
			t.Errorf("%s: has an APP13 (IPTC/Photoshop) segment", name)
		case m == 0xFE:
			t.Errorf("%s: has a comment %q", name, p)
		}
	}
}

// realImage returns one of the shared real-world images, skipping the test
// (its generated-image twin still runs) when they are absent.
func realImage(t *testing.T, name string) []byte {
	t.Helper()
	return testimages.Shared(t, name)
}
