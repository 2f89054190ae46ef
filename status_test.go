package ximagepipeline_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
	"github.com/ximagepipeline/ximagepipeline/storage/local"
)

// TestStatusPending: with no worker, a job waits: 202 {jobId, status} only.
func TestStatusPending(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(cfg *xip.Config) { cfg.DisableWorkers = true })
	id := e.uploadOK("avatar", "u1", "a.jpg", testimages.JPEG(testimages.Quadrants(80, 60), 90))
	code, body := e.status(id)
	if want := map[string]any{"jobId": id, "status": "PENDING"}; code != http.StatusAccepted || !jsonEqual(body, want) {
		t.Errorf("got %d %v, want 202 %v", code, body, want)
	}
	job, err := e.p.GetStatus(context.Background(), id)
	if err != nil || job.Status != xip.StatusPending || job.ID != id || job.SourceType != "avatar" || job.SourceID != "u1" || job.Media != nil {
		t.Errorf("GetStatus: %+v, %v", job, err)
	}
}

// TestStatusNotFound: an unknown job is 404 JOB_NOT_FOUND.
func TestStatusNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(cfg *xip.Config) { cfg.DisableWorkers = true })
	for _, id := range []string{"nope", "job_aaaaaaaaaaaaaaaaaaaa", "med_x", "%2e%2e", "' OR 1=1 --"} {
		code, body := e.get(e.prefix() + "/status/" + strings.ReplaceAll(id, " ", "%20"))
		if want := errBody("Job not found", "JOB_NOT_FOUND"); code != http.StatusNotFound || !jsonEqual(body, want) {
			t.Errorf("%q: got %d %v, want 404 %v", id, code, body, want)
		}
	}
	_, err := e.p.GetStatus(context.Background(), "nope")
	var xe *xip.Error
	if !errors.Is(err, xip.ErrJobNotFound) || !errors.As(err, &xe) || xe.Status != 404 || xe.Code != "JOB_NOT_FOUND" {
		t.Errorf("GetStatus: %v, want ErrJobNotFound", err)
	}
}

// TestStatusComplete: a finished job is 200 with exactly jobId, status and
// media, and its staged upload is gone.
func TestStatusComplete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	id := e.uploadOK("avatar", "u1", "a.jpg", testimages.JPEG(testimages.Quadrants(80, 60), 90))
	code, body := e.wait(id)
	if code != http.StatusOK || body["jobId"] != id || body["status"] != "COMPLETE" || len(body) != 3 {
		t.Fatalf("got %d %v, want 200 {jobId, status COMPLETE, media}", code, body)
	}
	media := body["media"].(map[string]any)
	job, err := e.p.GetStatus(context.Background(), id)
	if err != nil || job.Status != xip.StatusComplete || job.Media == nil || job.Media.ID != media["id"] || job.Attempts != 1 {
		t.Errorf("GetStatus: %+v, %v; want COMPLETE with media %v after 1 attempt", job, err, media["id"])
	}
	e.waitNothingStaged()
}

// TestStatusFailed: an image that cannot be decoded (truncated, or a
// broken header) fails at once: 500 with error and attempts 1, never
// retried, and leaves nothing staged nor stored.
func TestStatusFailed(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		data func(t *testing.T) []byte
	}{
		{"generated truncated jpeg", func(*testing.T) []byte { return testimages.TruncatedJPEG(256, 256) }},
		{"truncated.jpg", func(t *testing.T) []byte { return realImage(t, "truncated.jpg") }},
		{"corrupt-header.jpg", func(t *testing.T) []byte { return realImage(t, "corrupt-header.jpg") }},
		{"png without pixels", func(*testing.T) []byte { return testimages.HugePNG(300, 200) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			data := c.data(t)
			e := newEnv(t, func(cfg *xip.Config) { cfg.MaxAttempts = 3 })
			id := e.uploadOK("gallery", "u1", "broken.jpg", data)
			code, body := e.wait(id)
			msg, _ := body["error"].(string)
			want := map[string]any{"jobId": id, "status": "FAILED", "error": msg, "code": "UNDECODABLE", "attempts": 1}
			reason, ok := strings.CutPrefix(msg, "Image could not be decoded: ")
			if code != http.StatusInternalServerError || !jsonEqual(body, want) || !ok || reason == "" || strings.Contains(reason, "imaging") {
				t.Errorf("got %d %v, want 500 %v with error \"Image could not be decoded: \" and the reason, without the internal error's text", code, body, want)
			}
			job, err := e.p.GetStatus(context.Background(), id)
			if err != nil || job.Status != xip.StatusFailed || job.Attempts != 1 || job.Error != msg {
				t.Errorf("GetStatus: %+v, %v", job, err)
			}
			e.waitNothingStaged()
			e.waitNoFiles("media", "originals") // a failed job leaves no output
		})
	}
}

// gatedStorage is a local store whose Get of staged uploads can be held
// (to watch a job PROCESSING) or fail a number of times (to watch retries).
type gatedStorage struct {
	*local.Store
	hold    chan struct{} // when non-nil, Get waits until it is closed
	entered chan struct{} // closed on the first Get
	once    sync.Once
	failN   int32 // the first failN Gets fail
	gets    atomic.Int32
}

var errUnavailable = errors.New("storage temporarily unavailable")

func (s *gatedStorage) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if strings.HasPrefix(key, "staging/") {
		n := s.gets.Add(1)
		s.once.Do(func() { close(s.entered) })
		if s.hold != nil {
			select {
			case <-s.hold:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if n <= s.failN {
			return nil, errUnavailable
		}
	}
	return s.Store.Get(ctx, key)
}

// heldJob uploads an avatar whose worker is held inside its attempt (it
// reads the staged file only once gs.hold is closed) and returns once a
// worker has it. maxAttempts 0 keeps the default.
func heldJob(t *testing.T, maxAttempts int) (*env, *gatedStorage, string) {
	t.Helper()
	dir := t.TempDir()
	gs := newGated(t, dir)
	gs.hold = make(chan struct{})
	e := newEnvIn(t, dir, func(cfg *xip.Config) { cfg.Storage, cfg.MaxAttempts = gs, maxAttempts })
	id := e.uploadOK("avatar", "u1", "a.jpg", testimages.JPEG(testimages.Quadrants(80, 60), 90))
	select {
	case <-gs.entered:
	case <-time.After(pollDeadline):
		t.Fatal("no worker picked the job up")
	}
	return e, gs, id
}

func newGated(t *testing.T, dir string) *gatedStorage {
	ls, err := local.New(dir+"/files", "")
	if err != nil {
		t.Fatal(err)
	}
	return &gatedStorage{Store: ls, entered: make(chan struct{})}
}

// TestStatusProcessing holds a job inside its worker: it answers 202
// PROCESSING; released, it completes.
func TestStatusProcessing(t *testing.T) {
	t.Parallel()
	e, gs, id := heldJob(t, 0)
	code, body := e.status(id)
	if want := map[string]any{"jobId": id, "status": "PROCESSING"}; code != http.StatusAccepted || !jsonEqual(body, want) {
		t.Errorf("got %d %v, want 202 %v", code, body, want)
	}
	close(gs.hold)
	if code, body := e.wait(id); code != http.StatusOK || body["status"] != "COMPLETE" {
		t.Errorf("after release: %d %v, want 200 COMPLETE", code, body)
	}
}

// TestStatusRetries: a failure that can pass (storage unavailable) is
// retried; one that lasts fails after MaxAttempts, with that many attempts.
func TestStatusRetries(t *testing.T) {
	t.Parallel()
	jpg := testimages.JPEG(testimages.Quadrants(80, 60), 90)
	t.Run("passes", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		gs := newGated(t, dir)
		gs.failN = 1
		e := newEnvIn(t, dir, func(cfg *xip.Config) { cfg.Storage, cfg.MaxAttempts = gs, 3 })
		id := e.uploadOK("avatar", "u1", "a.jpg", jpg)
		if code, body := e.wait(id); code != http.StatusOK || body["status"] != "COMPLETE" {
			t.Errorf("got %d %v, want 200 COMPLETE after a retry", code, body)
		}
		if job, err := e.p.GetStatus(context.Background(), id); err != nil || job.Attempts != 2 {
			t.Errorf("GetStatus: %+v, %v; want 2 attempts", job, err)
		}
		if n := gs.gets.Load(); n != 2 {
			t.Errorf("%d reads of the staged upload, want 2", n)
		}
	})
	t.Run("lasts", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		gs := newGated(t, dir)
		gs.failN = 1 << 30
		e := newEnvIn(t, dir, func(cfg *xip.Config) { cfg.Storage, cfg.MaxAttempts = gs, 2 })
		id := e.uploadOK("avatar", "u1", "a.jpg", jpg)
		code, body := e.wait(id)
		msg, _ := body["error"].(string)
		want := map[string]any{"jobId": id, "status": "FAILED", "error": msg, "code": "STORAGE_ERROR", "attempts": 2}
		// The storage's own error text is logged, not shown: it can name
		// the storage's endpoint (TestSecFailedStatusNamesInternalAddress).
		if code != http.StatusInternalServerError || !jsonEqual(body, want) ||
			msg != "Processing failed: could not read the staged upload" || strings.Contains(msg, errUnavailable.Error()) {
			t.Errorf("got %d %v, want 500 %v without the storage's error text", code, body, want)
		}
		if n := gs.gets.Load(); n != 2 {
			t.Errorf("%d reads of the staged upload, want 2", n)
		}
		e.waitNothingStaged()
	})
}

// TestRestart: jobs uploaded by an API-only pipeline wait; a pipeline with
// workers opened later on the same data directory completes them.
func TestRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	api := newEnvIn(t, dir, func(cfg *xip.Config) { cfg.DisableWorkers = true })
	jpgs := [][]byte{
		testimages.OrientedJPEG(testimages.Quadrants(300, 200), 6),
		testimages.JPEG(testimages.Quadrants(200, 300), 85),
	}
	var ids []string
	for _, data := range jpgs {
		ids = append(ids, api.uploadOK("gallery", "restart", "a.jpg", data))
	}
	for _, id := range ids {
		if code, body := api.status(id); code != http.StatusAccepted || body["status"] != "PENDING" {
			t.Fatalf("before restart: %d %v, want 202 PENDING", code, body)
		}
	}
	api.srv.Close()
	api.close()

	w := newEnvIn(t, dir, nil)
	for i, id := range ids {
		m := w.waitMedia(id)
		u := upload{
			data: jpgs[i], sourceType: "gallery", sourceID: "restart", format: "jpeg", frames: 1, pixels: quadrants,
			uprightW: 300, uprightH: 200, storedW: 200, storedH: 300, orientation: 6,
		}
		if i == 1 {
			u.uprightW, u.uprightH, u.storedW, u.storedH, u.orientation = 200, 300, 200, 300, 1
		}
		checkMedia(w, u, m, xip.DefaultVariants(), xip.DefaultSourceTypes())
	}
	w.waitNothingStaged()
}

// TestShutdownHandsJobBack: a job interrupted by a stop that cannot wait
// for it goes back to the queue without using an attempt, even its last
// one, and the next pipeline on the same data completes it.
func TestShutdownHandsJobBack(t *testing.T) {
	t.Parallel()
	e, _, id := heldJob(t, 1) // never released: only the stop ends the attempt
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := e.p.Close(ctx); err != nil {
		t.Logf("Close with a job running: %v", err)
	}
	e.p = nil

	next := newEnvIn(t, e.dir, func(cfg *xip.Config) { cfg.MaxAttempts = 1 })
	code, body := next.wait(id)
	if code != http.StatusOK || body["status"] != "COMPLETE" {
		t.Fatalf("after restart: %d %v, want 200 COMPLETE", code, body)
	}
	if job, err := next.p.GetStatus(context.Background(), id); err != nil || job.Attempts != 1 {
		t.Errorf("GetStatus: %+v, %v; want the one counted attempt", job, err)
	}
}

// TestPixelLimitBehindMetadata: a JPEG whose dimensions sit behind more
// metadata than the upload reads is accepted, then refused by the worker
// before decoding: FAILED at once with the pixel limit's message.
func TestPixelLimitBehindMetadata(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(cfg *xip.Config) { cfg.MaxPixels = 10_000 })
	var segs []testimages.Segment
	for range 6 { // 6 x 64 KB of APP data before the frame header
		segs = append(segs, testimages.Segment{Marker: 0xE9, Payload: make([]byte, 65000)})
	}
	jpg := testimages.InsertSegments(testimages.JPEG(testimages.Quadrants(200, 200), 90), segs...)
	id := e.uploadOK("gallery", "u1", "a.jpg", jpg)
	code, body := e.wait(id)
	want := map[string]any{"jobId": id, "status": "FAILED", "error": "Image too large. Maximum: 0.01 megapixels", "code": "IMAGE_TOO_LARGE", "attempts": 1}
	if code != http.StatusInternalServerError || !jsonEqual(body, want) {
		t.Fatalf("got %d %v, want 500 %v", code, body, want)
	}
	e.waitNoFiles("media", "originals")
}

// TestSourceIDLikeTempName: a valid sourceId that looks like local
// storage's temporary names still completes.
func TestSourceIDLikeTempName(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	id := e.uploadOK("avatar", ".tmp-abc", "a.jpg", testimages.JPEG(testimages.Quadrants(80, 60), 90))
	if code, body := e.wait(id); code != http.StatusOK || body["status"] != "COMPLETE" {
		t.Fatalf("got %d %v, want 200 COMPLETE", code, body)
	}
}

// TestOriginalLimit: an upload within the size limit whose original,
// re-encoded upright, would be over it fails at once with the limit's
// message, and nothing of it is published.
func TestOriginalLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(cfg *xip.Config) { cfg.MaxFileSize = 32 << 10 })
	// Noise stored at low quality, rotated by its tag: the upright
	// original is re-encoded at high quality, several times larger.
	jpg := testimages.InsertSegments(testimages.JPEG(testimages.Stored(testimages.Noise(320, 240, 3), 6), 30),
		testimages.Segment{Marker: 0xE1, Payload: testimages.BuildEXIF(testimages.EXIF{Orientation: 6})})
	if len(jpg) > 32<<10 {
		t.Fatalf("the upload is %d bytes, over the limit it must pass", len(jpg))
	}
	id := e.uploadOK("gallery", "u1", "a.jpg", jpg)
	code, body := e.wait(id)
	want := map[string]any{"jobId": id, "status": "FAILED", "error": "Original too large once re-encoded. Maximum size: 0.031MB", "code": "ORIGINAL_TOO_LARGE", "attempts": 1}
	if code != http.StatusInternalServerError || !jsonEqual(body, want) {
		t.Fatalf("got %d %v, want 500 %v", code, body, want)
	}
	e.waitNoFiles("media", "originals")
}
