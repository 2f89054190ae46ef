package ximagepipeline_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
	"github.com/ximagepipeline/ximagepipeline/storage"
	"github.com/ximagepipeline/ximagepipeline/storage/local"
)

const smallLimit = 256 << 10 // 256 KiB: "0.25MB"

// avifHead is the start of an AVIF file: an ftyp box with the avif brand.
var avifHead = []byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf\x00\x00\x00\x00")

// TestUploadRefusals checks every refusal of the upload route (contract
// section 2): the exact status and {"error","code"} body, the contract's
// validation order whatever the order of the parts, and that nothing stays
// staged or queued afterwards.
func TestUploadRefusals(t *testing.T) {
	t.Parallel()
	jpg := testimages.JPEG(testimages.Quadrants(120, 80), 90)
	svg, pdf, html, script := testimages.SVG, testimages.PDF, testimages.HTML, testimages.Script
	st, sid := field("sourceType", "gallery"), field("sourceId", "user-1")
	lying := func(name string, data []byte, ct string) part {
		return part{name: "file", filename: name, contentType: ct, data: data}
	}
	bigJPEG := testimages.Pad(jpg, smallLimit+1)
	bigSVG := append(append([]byte{}, svg...), bytes.Repeat([]byte("<!-- padding -->\n"), smallLimit/16)...)
	hugeBig := testimages.Pad(testimages.HugePNG(64000, 64000), smallLimit+1)
	cut, cutType := form(st, sid, file("a.jpg", jpg))
	cut = cut[:len(cut)-len(jpg)/2] // ends inside the file part

	const (
		noFile   = "No file provided"
		missing  = "sourceType and sourceId are required"
		badID    = "Invalid sourceId"
		tooLarge = "File too large. Maximum size: 0.25MB"
		tooMany  = "Image too large. Maximum: 100 megapixels"
	)
	type tc struct {
		name        string
		contentType string // raw body mode when set
		raw         []byte
		parts       []part
		status      int
		msg, code   string
	}
	cases := []tc{
		// NO_FILE
		{name: "no file part", parts: []part{st, sid}, status: 400, msg: noFile, code: "NO_FILE"},
		{name: "file under another name", parts: []part{st, sid, {name: "image", filename: "a.jpg", contentType: "image/jpeg", data: jpg}}, status: 400, msg: noFile, code: "NO_FILE"},
		{name: "empty file", parts: []part{st, sid, file("a.jpg", nil)}, status: 400, msg: noFile, code: "NO_FILE"},
		{name: "empty file first", parts: []part{file("a.jpg", nil), st, sid}, status: 400, msg: noFile, code: "NO_FILE"},
		{name: "not multipart json", contentType: "application/json", raw: []byte(`{"sourceType":"gallery","sourceId":"u"}`), status: 400, msg: noFile, code: "NO_FILE"},
		{name: "not multipart urlencoded", contentType: "application/x-www-form-urlencoded", raw: []byte(`sourceType=gallery&sourceId=u&file=abc`), status: 400, msg: noFile, code: "NO_FILE"},
		{name: "no content type", raw: jpg, status: 400, msg: noFile, code: "NO_FILE"},
		{name: "empty body", contentType: "multipart/form-data; boundary=xyz", raw: nil, status: 400, msg: noFile, code: "NO_FILE"},
		// The file is checked first: no file beats missing or bad fields.
		{name: "no file and no fields", parts: []part{field("other", "x")}, status: 400, msg: noFile, code: "NO_FILE"},
		{name: "no file and unknown type", parts: []part{field("sourceType", "nope"), sid}, status: 400, msg: noFile, code: "NO_FILE"},
		{name: "empty file and missing sourceId", parts: []part{st, file("a.jpg", nil)}, status: 400, msg: noFile, code: "NO_FILE"},
		{name: "empty file and unknown type", parts: []part{field("sourceType", "nope"), sid, file("a.jpg", nil)}, status: 400, msg: noFile, code: "NO_FILE"},

		// BAD_UPLOAD (not in the contract's table): the body cannot be read to its end.
		{name: "body cut off inside the file part", contentType: cutType, raw: cut, status: 400, msg: "Upload could not be read", code: "BAD_UPLOAD"},

		// MISSING_FIELDS
		{name: "sourceType missing", parts: []part{sid, file("a.jpg", jpg)}, status: 400, msg: missing, code: "MISSING_FIELDS"},
		{name: "sourceId missing", parts: []part{st, file("a.jpg", jpg)}, status: 400, msg: missing, code: "MISSING_FIELDS"},
		{name: "both missing", parts: []part{file("a.jpg", jpg)}, status: 400, msg: missing, code: "MISSING_FIELDS"},
		{name: "sourceType empty", parts: []part{field("sourceType", ""), sid, file("a.jpg", jpg)}, status: 400, msg: missing, code: "MISSING_FIELDS"},
		{name: "sourceId empty", parts: []part{st, field("sourceId", ""), file("a.jpg", jpg)}, status: 400, msg: missing, code: "MISSING_FIELDS"},
		{name: "sourceId empty after file", parts: []part{st, file("a.jpg", jpg), field("sourceId", "")}, status: 400, msg: missing, code: "MISSING_FIELDS"},
		{name: "sourceType missing, fields after file", parts: []part{file("a.jpg", jpg), sid}, status: 400, msg: missing, code: "MISSING_FIELDS"},
		// Fields rank before the file's own checks, wherever they are.
		{name: "svg and missing sourceId", parts: []part{st, file("a.svg", svg)}, status: 400, msg: missing, code: "MISSING_FIELDS"},
		{name: "svg first and missing sourceId", parts: []part{file("a.svg", svg), st}, status: 400, msg: missing, code: "MISSING_FIELDS"},
		{name: "too large and missing fields", parts: []part{file("a.jpg", bigJPEG)}, status: 400, msg: missing, code: "MISSING_FIELDS"},
		{name: "huge header and empty sourceType after", parts: []part{sid, file("a.png", testimages.HugePNG(64000, 64000)), field("sourceType", "")}, status: 400, msg: missing, code: "MISSING_FIELDS"},

		// UNKNOWN_SOURCE_TYPE
		{name: "unknown type", parts: []part{field("sourceType", "nope"), sid, file("a.jpg", jpg)}, status: 400, msg: "Unknown sourceType: nope", code: "UNKNOWN_SOURCE_TYPE"},
		{name: "type is case sensitive", parts: []part{field("sourceType", "Avatar"), sid, file("a.jpg", jpg)}, status: 400, msg: "Unknown sourceType: Avatar", code: "UNKNOWN_SOURCE_TYPE"},
		{name: "unknown type after file", parts: []part{sid, file("a.jpg", jpg), field("sourceType", "nope")}, status: 400, msg: "Unknown sourceType: nope", code: "UNKNOWN_SOURCE_TYPE"},
		{name: "unknown type and svg", parts: []part{file("a.svg", svg), field("sourceType", "nope"), sid}, status: 400, msg: "Unknown sourceType: nope", code: "UNKNOWN_SOURCE_TYPE"},
		{name: "unknown type and invalid id", parts: []part{field("sourceType", "nope"), field("sourceId", "a/b"), file("a.jpg", jpg)}, status: 400, msg: "Unknown sourceType: nope", code: "UNKNOWN_SOURCE_TYPE"},

		// INVALID_SOURCE_ID
		{name: "id dot", parts: []part{st, field("sourceId", "."), file("a.jpg", jpg)}, status: 400, msg: badID, code: "INVALID_SOURCE_ID"},
		{name: "id dotdot", parts: []part{st, field("sourceId", ".."), file("a.jpg", jpg)}, status: 400, msg: badID, code: "INVALID_SOURCE_ID"},
		{name: "id slash", parts: []part{st, field("sourceId", "a/b"), file("a.jpg", jpg)}, status: 400, msg: badID, code: "INVALID_SOURCE_ID"},
		{name: "id traversal", parts: []part{st, field("sourceId", "../../etc"), file("a.jpg", jpg)}, status: 400, msg: badID, code: "INVALID_SOURCE_ID"},
		{name: "id backslash", parts: []part{st, field("sourceId", `a\b`), file("a.jpg", jpg)}, status: 400, msg: badID, code: "INVALID_SOURCE_ID"},
		{name: "id 129 chars", parts: []part{st, field("sourceId", strings.Repeat("a", 129)), file("a.jpg", jpg)}, status: 400, msg: badID, code: "INVALID_SOURCE_ID"},
		{name: "id 5000 chars", parts: []part{st, field("sourceId", strings.Repeat("a", 5000)), file("a.jpg", jpg)}, status: 400, msg: badID, code: "INVALID_SOURCE_ID"},
		{name: "id non-ascii", parts: []part{st, field("sourceId", "é"), file("a.jpg", jpg)}, status: 400, msg: badID, code: "INVALID_SOURCE_ID"},
		{name: "id space", parts: []part{st, field("sourceId", "a b"), file("a.jpg", jpg)}, status: 400, msg: badID, code: "INVALID_SOURCE_ID"},
		{name: "id nul", parts: []part{st, field("sourceId", "a\x00b"), file("a.jpg", jpg)}, status: 400, msg: badID, code: "INVALID_SOURCE_ID"},
		{name: "id invalid after file", parts: []part{st, file("a.jpg", jpg), field("sourceId", "..")}, status: 400, msg: badID, code: "INVALID_SOURCE_ID"},
		{name: "id invalid and pdf", parts: []part{file("a.pdf", pdf), st, field("sourceId", "a/b")}, status: 400, msg: badID, code: "INVALID_SOURCE_ID"},
		{name: "id invalid and too large", parts: []part{st, field("sourceId", "é"), file("a.jpg", bigJPEG)}, status: 400, msg: badID, code: "INVALID_SOURCE_ID"},

		// FILE_TYPE_NOT_ALLOWED: sniffed from the bytes, never the client's word.
		{name: "svg", parts: []part{st, sid, lying("a.svg", svg, "image/svg+xml")}, status: 400, msg: "File type image/svg+xml not allowed", code: "FILE_TYPE_NOT_ALLOWED"},
		{name: "svg named png", parts: []part{st, sid, lying("a.png", svg, "image/png")}, status: 400, msg: "File type image/svg+xml not allowed", code: "FILE_TYPE_NOT_ALLOWED"},
		{name: "svg with bom and blank lines", parts: []part{st, sid, lying("a.jpg", append([]byte("\xef\xbb\xbf\n\n  "), svg...), "image/jpeg")}, status: 400, msg: "File type image/svg+xml not allowed", code: "FILE_TYPE_NOT_ALLOWED"},
		{name: "pdf", parts: []part{st, sid, lying("a.pdf", pdf, "application/pdf")}, status: 400, msg: "File type application/pdf not allowed", code: "FILE_TYPE_NOT_ALLOWED"},
		{name: "pdf named jpg", parts: []part{st, sid, lying("a.jpg", pdf, "image/jpeg")}, status: 400, msg: "File type application/pdf not allowed", code: "FILE_TYPE_NOT_ALLOWED"},
		{name: "html", parts: []part{st, sid, lying("a.html", html, "text/html")}, status: 400, msg: "File type text/html not allowed", code: "FILE_TYPE_NOT_ALLOWED"},
		{name: "html named gif", parts: []part{st, sid, lying("a.gif", html, "image/gif")}, status: 400, msg: "File type text/html not allowed", code: "FILE_TYPE_NOT_ALLOWED"},
		{name: "script named jpg", parts: []part{st, sid, lying("a.jpg", script, "image/jpeg")}, status: 400, msg: "File type text/plain not allowed", code: "FILE_TYPE_NOT_ALLOWED"},
		{name: "binary garbage", parts: []part{st, sid, lying("a.webp", []byte{0, 1, 2, 3, 4, 5, 0xfe, 0xff}, "image/webp")}, status: 400, msg: "File type application/octet-stream not allowed", code: "FILE_TYPE_NOT_ALLOWED"},
		{name: "bmp", parts: []part{st, sid, lying("a.bmp", append([]byte("BM"), make([]byte, 60)...), "image/bmp")}, status: 400, msg: "File type image/bmp not allowed", code: "FILE_TYPE_NOT_ALLOWED"},
		{name: "tiff named jpg", parts: []part{st, sid, lying("a.jpg", append([]byte("II*\x00\x08\x00\x00\x00"), make([]byte, 60)...), "image/jpeg")}, status: 400, msg: "File type image/tiff not allowed", code: "FILE_TYPE_NOT_ALLOWED"},
		{name: "avif is opt-in", parts: []part{st, sid, lying("a.avif", avifHead, "image/avif")}, status: 400, msg: "File type image/avif not allowed", code: "FILE_TYPE_NOT_ALLOWED"},
		{name: "type before size", parts: []part{st, sid, lying("a.svg", bigSVG, "image/svg+xml")}, status: 400, msg: "File type image/svg+xml not allowed", code: "FILE_TYPE_NOT_ALLOWED"},

		// FILE_TOO_LARGE
		{name: "one byte over", parts: []part{st, sid, file("a.jpg", bigJPEG)}, status: 400, msg: tooLarge, code: "FILE_TOO_LARGE"},
		{name: "over, fields after", parts: []part{file("a.jpg", testimages.Pad(jpg, smallLimit+100_000)), st, sid}, status: 400, msg: tooLarge, code: "FILE_TOO_LARGE"},
		{name: "size before pixels", parts: []part{st, sid, file("a.png", hugeBig)}, status: 400, msg: tooLarge, code: "FILE_TOO_LARGE"},

		// IMAGE_TOO_LARGE: from the header, in a file of a few bytes.
		{name: "huge png header", parts: []part{st, sid, file("a.png", testimages.HugePNG(64000, 64000))}, status: 400, msg: tooMany, code: "IMAGE_TOO_LARGE"},
		{name: "huge jpeg header", parts: []part{st, sid, file("a.jpg", testimages.HugeJPEG(64000, 64000))}, status: 400, msg: tooMany, code: "IMAGE_TOO_LARGE"},
		{name: "huge jpeg header, fields after", parts: []part{file("a.jpg", testimages.HugeJPEG(64000, 64000)), sid, st}, status: 400, msg: tooMany, code: "IMAGE_TOO_LARGE"},
		{name: "gif frame far beyond its screen", parts: []part{st, sid, file("a.gif", testimages.OffscreenGIF(100, 100, 60000, 60000, 10, 10))}, status: 400, msg: tooMany, code: "IMAGE_TOO_LARGE"},
		{name: "just over 100 MP", parts: []part{st, sid, file("a.png", testimages.HugePNG(10001, 10000))}, status: 400, msg: tooMany, code: "IMAGE_TOO_LARGE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(cfg *xip.Config) { cfg.DisableWorkers = true; cfg.MaxFileSize = smallLimit })
			var code int
			var body map[string]any
			if c.parts != nil {
				code, body = e.upload(c.parts...)
			} else {
				code, body = e.post(c.contentType, bytes.NewReader(c.raw))
			}
			if want := errBody(c.msg, c.code); code != c.status || !jsonEqual(body, want) {
				t.Errorf("got %d %v, want %d %v", code, body, c.status, want)
			}
			e.assertNothingStaged()
			if jobs, queued := e.countRows(); jobs != 0 || queued != 0 {
				t.Errorf("after a refusal: %d job rows, %d queued jobs", jobs, queued)
			}
		})
	}
}

// TestUploadLimitMessages checks the limits' messages print the configured
// numbers, and that frames count towards the pixel limit.
func TestUploadLimitMessages(t *testing.T) {
	t.Parallel()
	jpg := testimages.JPEG(testimages.Quadrants(120, 80), 90)
	gif3 := testimages.AnimatedGIF(100, 100, testimages.Red, testimages.Blue, testimages.Green)
	cases := []struct {
		name      string
		maxFile   int64
		maxPixels int64
		data      []byte
		msg, code string
	}{
		{"200 KiB", 200 << 10, 0, testimages.Pad(jpg, 200<<10+1), "File too large. Maximum size: 0.195MB", "FILE_TOO_LARGE"},
		{"1 MiB", 1 << 20, 0, testimages.Pad(jpg, 1<<20+1), "File too large. Maximum size: 1MB", "FILE_TOO_LARGE"},
		{"1.5 MiB", 3 << 19, 0, testimages.Pad(jpg, 3<<19+1), "File too large. Maximum size: 1.5MB", "FILE_TOO_LARGE"},
		{"frames count", 0, 25_000, gif3, "Image too large. Maximum: 0.025 megapixels", "IMAGE_TOO_LARGE"},
		{"12 MP", 0, 12_000_000, testimages.HugeJPEG(4000, 3001), "Image too large. Maximum: 12 megapixels", "IMAGE_TOO_LARGE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(cfg *xip.Config) {
				cfg.DisableWorkers, cfg.MaxFileSize, cfg.MaxPixels = true, c.maxFile, c.maxPixels
			})
			code, body := e.upload(field("sourceType", "gallery"), field("sourceId", "u1"), file("a", c.data))
			if want := errBody(c.msg, c.code); code != 400 || !jsonEqual(body, want) {
				t.Errorf("got %d %v, want 400 %v", code, body, want)
			}
			e.assertNothingStaged()
		})
	}
}

// TestUploadAccepted checks the edges that must pass: a file of exactly
// the maximum size, a 128-character id of every allowed character, a
// header of exactly the pixel limit, fields after the file, and a client
// Content-Type that lies the other way (an image sent as text/plain).
func TestUploadAccepted(t *testing.T) {
	t.Parallel()
	jpg := testimages.JPEG(testimages.Quadrants(120, 80), 90)
	id128 := strings.Repeat("aZ09._-", 19)[:128]
	cases := []struct {
		name  string
		parts []part
	}{
		{"exactly max size", []part{field("sourceType", "gallery"), field("sourceId", "u"), file("a.jpg", testimages.Pad(jpg, smallLimit))}},
		{"128-char id", []part{field("sourceType", "gallery"), field("sourceId", id128), file("a.jpg", jpg)}},
		{"exactly max pixels", []part{field("sourceType", "gallery"), field("sourceId", "u"), file("a.png", testimages.HugePNG(10000, 10000))}},
		{"fields after file", []part{file("a.jpg", jpg), field("sourceId", "u"), field("sourceType", "avatar")}},
		{"image sent as text", []part{field("sourceType", "avatar"), field("sourceId", "u"), {name: "file", filename: "a.txt", contentType: "text/plain", data: jpg}}},
		{"no filename", []part{field("sourceType", "avatar"), field("sourceId", "u"), {name: "file", contentType: "image/jpeg", data: jpg}}},
		{"second file ignored", []part{field("sourceType", "avatar"), field("sourceId", "u"), file("a.jpg", jpg), file("b.svg", testimages.SVG)}},
		{"unknown fields ignored", []part{field("caption", "hello"), field("sourceType", "avatar"), field("sourceId", "u"), file("a.jpg", jpg)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(cfg *xip.Config) { cfg.DisableWorkers = true; cfg.MaxFileSize = smallLimit })
			id := e.uploadOK2(c.parts...)
			code, body := e.status(id)
			if want := map[string]any{"jobId": id, "status": "PENDING"}; code != http.StatusAccepted || !jsonEqual(body, want) {
				t.Errorf("status: %d %v, want 202 %v", code, body, want)
			}
			if staged := e.files("staging"); len(staged) != 1 || staged[0] != id {
				t.Errorf("staged %v, want [%s]", staged, id)
			}
			if jobs, queued := e.countRows(); jobs != 1 || queued != 1 {
				t.Errorf("%d job rows, %d queued jobs, want 1 and 1", jobs, queued)
			}
		})
	}
}

// uploadOK2 is uploadOK with arbitrary parts.
func (e *env) uploadOK2(parts ...part) string {
	e.t.Helper()
	code, body := e.upload(parts...)
	id, _ := body["jobId"].(string)
	want := map[string]any{"jobId": id, "message": "File uploaded. Processing started.", "statusUrl": e.prefix() + "/status/" + id}
	if code != http.StatusAccepted || id == "" || !jsonEqual(body, want) {
		e.t.Fatalf("upload: %d %v, want 202 %v", code, body, want)
	}
	return id
}

// failingStorage is a local store whose Puts under a prefix fail, after
// reading some of the upload.
type failingStorage struct {
	*local.Store
	prefix string
	puts   atomic.Int32
}

var errBroken = errors.New("disk on fire")

func (s *failingStorage) Put(ctx context.Context, key string, r io.Reader, size int64, ct string) error {
	if strings.HasPrefix(key, s.prefix) {
		s.puts.Add(1)
		io.CopyN(io.Discard, r, 100)
		return errBroken
	}
	return s.Store.Put(ctx, key, r, size, ct)
}

// opaqueStorage wraps a local store and hides the cause of a failed Put
// behind a message of its own, as a remote store might.
type opaqueStorage struct{ *local.Store }

func (s opaqueStorage) Put(ctx context.Context, key string, r io.Reader, size int64, ct string) error {
	if err := s.Store.Put(ctx, key, r, size, ct); err != nil {
		return errors.New("upload failed: " + err.Error())
	}
	return nil
}

// TestUploadStorageError checks a staging write failure answers 500
// STORAGE_ERROR and queues nothing; and that a storage hiding the cause of
// its failure still lets an over-large upload be told apart.
func TestUploadStorageError(t *testing.T) {
	t.Parallel()
	jpg := testimages.JPEG(testimages.Quadrants(120, 80), 90)

	t.Run("put fails", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		ls, err := local.New(dir+"/files", "")
		if err != nil {
			t.Fatal(err)
		}
		fs := &failingStorage{Store: ls, prefix: "staging/"}
		e := newEnvIn(t, dir, func(cfg *xip.Config) { cfg.Storage = fs })
		code, body := e.upload(field("sourceType", "gallery"), field("sourceId", "u"), file("a.jpg", jpg))
		if want := errBody("Failed to upload file to storage", "STORAGE_ERROR"); code != 500 || !jsonEqual(body, want) {
			t.Errorf("got %d %v, want 500 %v", code, body, want)
		}
		if fs.puts.Load() != 1 {
			t.Errorf("%d staging Puts, want 1", fs.puts.Load())
		}
		if jobs, queued := e.countRows(); jobs != 0 || queued != 0 {
			t.Errorf("%d job rows, %d queued jobs, want none", jobs, queued)
		}
		e.assertNothingStaged()

		// The library answers the same refusal.
		_, err = e.p.Upload(context.Background(), xip.UploadRequest{SourceType: "gallery", SourceID: "u", File: bytes.NewReader(jpg)})
		var xe *xip.Error
		if !errors.Is(err, xip.ErrStorage) || !errors.As(err, &xe) || xe.Message != "Failed to upload file to storage" || !errors.Is(err, errBroken) {
			t.Errorf("Upload: %v, want ErrStorage wrapping the cause", err)
		}
	})

	t.Run("opaque storage, too large", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		ls, err := local.New(dir+"/files", "")
		if err != nil {
			t.Fatal(err)
		}
		e := newEnvIn(t, dir, func(cfg *xip.Config) {
			cfg.Storage, cfg.MaxFileSize, cfg.DisableWorkers = opaqueStorage{ls}, smallLimit, true
		})
		code, body := e.upload(field("sourceType", "gallery"), field("sourceId", "u"), file("a.jpg", testimages.Pad(jpg, smallLimit+1)))
		if want := errBody("File too large. Maximum size: 0.25MB", "FILE_TOO_LARGE"); code != 400 || !jsonEqual(body, want) {
			t.Errorf("got %d %v, want 400 %v", code, body, want)
		}
		e.assertNothingStaged()
	})
}

// TestUploadQueueError makes the database refuse the job record (a trigger
// aborts every insert): the upload answers 500 QUEUE_ERROR and its staged
// file is removed. Once the database accepts writes again, uploads work.
func TestUploadQueueError(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(cfg *xip.Config) { cfg.DisableWorkers = true })
	db := openDB(t, e.dir)
	defer db.Close()
	if _, err := db.Exec(`CREATE TRIGGER refuse_jobs BEFORE INSERT ON ximage_jobs BEGIN SELECT RAISE(ABORT, 'database refuses writes'); END`); err != nil {
		t.Fatal(err)
	}
	jpg := testimages.JPEG(testimages.Quadrants(120, 80), 90)
	code, body := e.upload(field("sourceType", "gallery"), field("sourceId", "u"), file("a.jpg", jpg))
	if want := errBody("Failed to create processing job", "QUEUE_ERROR"); code != 500 || !jsonEqual(body, want) {
		t.Errorf("got %d %v, want 500 %v", code, body, want)
	}
	e.assertNothingStaged()
	if jobs, queued := e.countRows(); jobs != 0 || queued != 0 {
		t.Errorf("%d job rows, %d queued jobs, want none", jobs, queued)
	}

	_, err := e.p.Upload(context.Background(), xip.UploadRequest{SourceType: "gallery", SourceID: "u", File: bytes.NewReader(jpg)})
	if !errors.Is(err, xip.ErrQueue) {
		t.Errorf("Upload: %v, want ErrQueue", err)
	}
	e.assertNothingStaged()

	if _, err := db.Exec(`DROP TRIGGER refuse_jobs`); err != nil {
		t.Fatal(err)
	}
	id := e.uploadOK("gallery", "u", "a.jpg", jpg)
	if staged := e.files("staging"); len(staged) != 1 || staged[0] != id {
		t.Errorf("staged %v, want [%s]", staged, id)
	}
}

var _ storage.Storage = (*failingStorage)(nil)

// TestUploadAllowedTypes: a pipeline that allows JPEG only refuses a PNG,
// GIF and WebP by their bytes, and still takes a JPEG.
func TestUploadAllowedTypes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(cfg *xip.Config) { cfg.DisableWorkers = true; cfg.AllowedTypes = []string{"image/jpeg"} })
	for _, c := range []struct {
		data []byte
		mime string
	}{
		{testimages.PNG(testimages.Quadrants(20, 20)), "image/png"},
		{testimages.AnimatedGIF(20, 20, testimages.Red), "image/gif"},
		{[]byte("RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00"), "image/webp"},
	} {
		code, body := e.upload(field("sourceType", "gallery"), field("sourceId", "u"), part{name: "file", filename: "a.jpg", contentType: "image/jpeg", data: c.data})
		if want := errBody("File type "+c.mime+" not allowed", "FILE_TYPE_NOT_ALLOWED"); code != 400 || !jsonEqual(body, want) {
			t.Errorf("%s: got %d %v, want 400 %v", c.mime, code, body, want)
		}
	}
	e.assertNothingStaged()
	e.uploadOK("gallery", "u", "a.jpg", testimages.JPEG(testimages.Quadrants(20, 20), 80))
}

// TestRefusalReachesASendingClient: a refusal decided early (from the
// fields, or the file's first bytes) reaches a client that sends its whole
// body before it reads the answer, as many do, with or without
// "Expect: 100-continue". The server must read the rest of the body rather
// than close a connection the client is still writing to, which resets it
// and loses the answer.
func TestRefusalReachesASendingClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *xip.Config) { c.DisableWorkers = true })
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	big := make([]byte, 12<<20) // far more than the socket buffers hold
	copy(big, testimages.JPEG(testimages.Quadrants(64, 48), 80))
	svg := append([]byte(`<svg xmlns="http://www.w3.org/2000/svg">`), make([]byte, 12<<20)...)
	for _, tc := range []struct {
		name   string
		parts  []part
		expect bool
		want   map[string]any
	}{
		{"unknown source type", []part{field("sourceType", "poster"), field("sourceId", "u1"), file("a.jpg", big)}, false, errBody("Unknown sourceType: poster", "UNKNOWN_SOURCE_TYPE")},
		{"unknown source type, 100-continue", []part{field("sourceType", "poster"), field("sourceId", "u1"), file("a.jpg", big)}, true, errBody("Unknown sourceType: poster", "UNKNOWN_SOURCE_TYPE")},
		{"file type, 100-continue", []part{field("sourceType", "avatar"), field("sourceId", "u1"), file("a.jpg", svg)}, true, errBody("File type image/svg+xml not allowed", "FILE_TYPE_NOT_ALLOWED")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, ctype := form(tc.parts...)
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(pollDeadline))
			head := fmt.Sprintf("POST %s/upload HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n", e.prefix(), addr, ctype, len(body))
			if tc.expect {
				head += "Expect: 100-continue\r\n"
			}
			// Everything is written before anything is read.
			if _, err := conn.Write(append([]byte(head+"\r\n"), body...)); err != nil {
				t.Fatalf("sending the upload: %v (the server stopped reading it)", err)
			}
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			for err == nil && resp.StatusCode == http.StatusContinue {
				resp, err = http.ReadResponse(br, nil)
			}
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			var got map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatalf("answer %d: %v", resp.StatusCode, err)
			}
			if resp.StatusCode != http.StatusBadRequest || !jsonEqual(got, tc.want) {
				t.Errorf("answer %d %v, want 400 %v", resp.StatusCode, got, tc.want)
			}
		})
	}
}

// TestRefusalDoesNotHoldTheStop: reading a refused upload's body never
// holds up a server's stop: not for a client that stalls half-way, nor for
// one that waits for "100 Continue" (which a refusal never sends) and so
// never sends its body.
func TestRefusalDoesNotHoldTheStop(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, head string
		body       []byte
	}{
		{"stalled half-way", "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n",
			[]byte("--b\r\nContent-Disposition: form-data; name=\"sourceType\"\r\n\r\nposter\r\n--b\r\nContent-Disposition: form-data; name=\"sourceId\"\r\n\r\nu1\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\n\xff\xd8\xff")},
		{"waiting for 100 Continue", "Content-Type: text/plain\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *xip.Config) { c.DisableWorkers = true })
			e.srv.Config.RegisterOnShutdown(e.p.EndWaits)
			addr := strings.TrimPrefix(e.srv.URL, "http://")
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(pollDeadline))
			fmt.Fprintf(conn, "POST %s/upload HTTP/1.1\r\nHost: %s\r\n%s\r\n", e.prefix(), addr, tc.head)
			conn.Write(tc.body) // then nothing more
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("answer %d, want 400", resp.StatusCode)
			}
			// Far below the 30 s a refused body may be read for: only a
			// hang fails this.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := e.srv.Config.Shutdown(ctx); err != nil {
				t.Errorf("the server's stop: %v; the refused upload held it", err)
			}
		})
	}
}
