package ximagepipeline_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// waitJob polls GetStatus until the job leaves PENDING and PROCESSING.
func waitJob(t *testing.T, p *xip.Pipeline, id string) *xip.Job {
	t.Helper()
	deadline := time.Now().Add(pollDeadline)
	for {
		job, err := p.GetStatus(context.Background(), id)
		if err != nil {
			t.Fatalf("GetStatus(%s): %v", id, err)
		}
		if job.Status != xip.StatusPending && job.Status != xip.StatusProcessing {
			return job
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after %s", id, job.Status, pollDeadline)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLibraryAPI uses the pipeline as a Go library: Upload from any
// io.Reader (one byte at a time, or streamed through a pipe), then
// GetStatus, GetMedia, ListMedia and DeleteMedia, with the sentinel errors.
func TestLibraryAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	p, ctx := e.p, context.Background()
	jpg := testimages.OrientedJPEG(testimages.Quadrants(300, 200), 3)

	// A reader that gives one byte per Read.
	id1, err := p.Upload(ctx, xip.UploadRequest{SourceType: "member_photo", SourceID: "lib", File: iotest.OneByteReader(bytes.NewReader(jpg))})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	// A reader fed by another goroutine, of unknown length.
	pr, pw := io.Pipe()
	go func() {
		for chunk := range slices.Chunk(jpg, 1000) {
			pw.Write(chunk)
		}
		pw.Close()
	}()
	id2, err := p.Upload(ctx, xip.UploadRequest{SourceType: "member_photo", SourceID: "lib", File: pr})
	if err != nil {
		t.Fatalf("Upload from a pipe: %v", err)
	}

	job1 := waitJob(t, p, id1)
	if job1.Status != xip.StatusComplete || job1.Media == nil || job1.ID != id1 || job1.Attempts != 1 {
		t.Fatalf("job 1: %+v", job1)
	}
	m := job1.Media
	if m.Width != 300 || m.Height != 200 || m.AspectRatio != "3:2" || m.Metadata.Orientation != 3 || m.Metadata.Bytes != int64(len(jpg)) ||
		m.OriginalURL == nil || len(m.Variants) != 3 || m.SourceType != "member_photo" || m.SourceID != "lib" {
		t.Errorf("media 1: %+v", m)
	}
	// The library's media and the server's are the same.
	if code, body := e.get(e.prefix() + "/media/" + m.ID); code != http.StatusOK || !jsonEqual(body, m) {
		t.Errorf("HTTP media differs from GetStatus' media:\n%v\n%+v", body, m)
	}
	img, _ := decode(t, e.fetchBytes(m.URLs["md"]))
	quadrants(t, "md", img)

	job2 := waitJob(t, p, id2)
	if job2.Status != xip.StatusComplete || job2.Media == nil || job2.Media.Metadata.Bytes != int64(len(jpg)) {
		t.Fatalf("job 2: %+v", job2)
	}

	got, err := p.GetMedia(ctx, m.ID)
	if err != nil || !jsonEqual(got, m) {
		t.Errorf("GetMedia: %+v, %v", got, err)
	}
	list, err := p.ListMedia(ctx, "member_photo", "lib")
	if err != nil || len(list) != 2 {
		t.Fatalf("ListMedia: %d, %v", len(list), err)
	}
	if list[0].CreatedAt.Before(list[1].CreatedAt) {
		t.Errorf("ListMedia not newest first: %v then %v", list[0].CreatedAt, list[1].CreatedAt)
	}
	empty, err := p.ListMedia(ctx, "member_photo", "nobody")
	if err != nil || empty == nil || len(empty) != 0 {
		t.Errorf("ListMedia of nobody: %#v, %v; want an empty, non-nil slice", empty, err)
	}

	if err := p.DeleteMedia(ctx, m.ID); err != nil {
		t.Fatalf("DeleteMedia: %v", err)
	}
	if _, err := p.GetMedia(ctx, m.ID); !errors.Is(err, xip.ErrMediaNotFound) {
		t.Errorf("GetMedia after delete: %v, want ErrMediaNotFound", err)
	}
	if err := p.DeleteMedia(ctx, m.ID); !errors.Is(err, xip.ErrMediaNotFound) {
		t.Errorf("DeleteMedia again: %v, want ErrMediaNotFound", err)
	}
	var xe *xip.Error
	if err := p.DeleteMedia(ctx, "med_nope"); !errors.As(err, &xe) || xe.Status != 404 || xe.Code != "MEDIA_NOT_FOUND" || xe.Message != "Media not found" {
		t.Errorf("DeleteMedia unknown: %v", err)
	}
	if job, err := p.GetStatus(ctx, id1); err != nil || job.Status != xip.StatusComplete || job.Media != nil {
		t.Errorf("job of a deleted media: %+v, %v; want COMPLETE without media", job, err)
	}
	if _, err := p.GetStatus(ctx, "job_nope"); !errors.Is(err, xip.ErrJobNotFound) || errors.Is(err, xip.ErrMediaNotFound) {
		t.Errorf("GetStatus unknown: %v, want ErrJobNotFound only", err)
	}
	if list, _ := p.ListMedia(ctx, "member_photo", "lib"); len(list) != 1 || list[0].ID != job2.Media.ID {
		t.Errorf("ListMedia after delete: %v", list)
	}
}

// TestLibraryUploadRefusals checks Upload's refusals are *Error values that
// match their sentinel with errors.Is and carry the contract's message.
func TestLibraryUploadRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(cfg *xip.Config) { cfg.DisableWorkers = true; cfg.MaxFileSize = smallLimit })
	jpg := testimages.JPEG(testimages.Quadrants(120, 80), 90)
	readFail := errors.New("client went away")
	cases := []struct {
		name     string
		req      xip.UploadRequest
		sentinel *xip.Error
		msg      string
	}{
		{"nil file", xip.UploadRequest{SourceType: "gallery", SourceID: "u"}, xip.ErrNoFile, "No file provided"},
		{"empty file", xip.UploadRequest{SourceType: "gallery", SourceID: "u", File: strings.NewReader("")}, xip.ErrNoFile, "No file provided"},
		{"empty file and bad fields", xip.UploadRequest{SourceType: "nope", File: strings.NewReader("")}, xip.ErrNoFile, "No file provided"},
		{"missing type", xip.UploadRequest{SourceID: "u", File: bytes.NewReader(jpg)}, xip.ErrMissingFields, "sourceType and sourceId are required"},
		{"missing id", xip.UploadRequest{SourceType: "gallery", File: bytes.NewReader(jpg)}, xip.ErrMissingFields, "sourceType and sourceId are required"},
		{"unknown type", xip.UploadRequest{SourceType: "nope", SourceID: "u", File: bytes.NewReader(jpg)}, xip.ErrUnknownSourceType, "Unknown sourceType: nope"},
		{"invalid id", xip.UploadRequest{SourceType: "gallery", SourceID: "../u", File: bytes.NewReader(jpg)}, xip.ErrInvalidSourceID, "Invalid sourceId"},
		{"svg", xip.UploadRequest{SourceType: "gallery", SourceID: "u", File: bytes.NewReader(testimages.SVG)}, xip.ErrFileTypeNotAllowed, "File type image/svg+xml not allowed"},
		{"too large", xip.UploadRequest{SourceType: "gallery", SourceID: "u", File: bytes.NewReader(testimages.Pad(jpg, smallLimit+1))}, xip.ErrFileTooLarge, "File too large. Maximum size: 0.25MB"},
		{"too many pixels", xip.UploadRequest{SourceType: "gallery", SourceID: "u", File: bytes.NewReader(testimages.HugeJPEG(64000, 64000))}, xip.ErrImageTooLarge, "Image too large. Maximum: 100 megapixels"},
		// A reader that fails half-way: refused, and nothing is staged.
		{"read error", xip.UploadRequest{SourceType: "gallery", SourceID: "u", File: io.MultiReader(bytes.NewReader(jpg[:1000]), iotest.ErrReader(readFail))}, xip.ErrBadUpload, "Upload could not be read"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := e.p.Upload(context.Background(), c.req)
			var xe *xip.Error
			if id != "" || !errors.Is(err, c.sentinel) || !errors.As(err, &xe) || xe.Message != c.msg || xe.Status != c.sentinel.Status {
				t.Errorf("Upload: %q, %v; want %s %q", id, err, c.sentinel.Code, c.msg)
			}
			if c.name == "read error" && !errors.Is(err, readFail) {
				t.Errorf("Upload: %v does not wrap the reader's error", err)
			}
		})
	}
	e.assertNothingStaged()
	if jobs, queued := e.countRows(); jobs != 0 || queued != 0 {
		t.Errorf("%d job rows, %d queued jobs, want none", jobs, queued)
	}
}

// TestCustomConfig runs a pipeline with its own prefix, variants and source
// types: only those are accepted, the outputs follow them, /config and the
// accessors show them with defaults filled in, and the caller's maps are
// left as they were.
func TestCustomConfig(t *testing.T) {
	t.Parallel()
	variants := map[string]xip.VariantSpec{
		"thumb": {Width: 32, Height: 32, Fit: xip.FitCover},
		"wide":  {Width: 100}, // fit defaults to inside
		"card":  {Width: 120, Height: 50, Fit: xip.FitInside},
	}
	sourceTypes := map[string]xip.SourceType{
		"doc":  {Variants: []string{"thumb", "wide", "card"}, StoreOriginal: true}, // quality and formats default
		"icon": {Variants: []string{"thumb"}, Quality: 60},
	}
	e := newEnv(t, func(cfg *xip.Config) {
		cfg.Prefix = "/img/"
		cfg.Variants, cfg.SourceTypes = variants, sourceTypes
	})

	code, body := e.upload(field("sourceType", "avatar"), field("sourceId", "u"), file("a.jpg", testimages.JPEG(testimages.Quadrants(80, 60), 90)))
	if want := errBody("Unknown sourceType: avatar", "UNKNOWN_SOURCE_TYPE"); code != 400 || !jsonEqual(body, want) {
		t.Errorf("default source type: %d %v, want 400 %v", code, body, want)
	}

	data := testimages.OrientedJPEG(testimages.Quadrants(300, 200), 7)
	id := e.uploadOK("doc", "d1", "a.jpg", data)
	defaulted := map[string]xip.SourceType{
		"doc":  {Variants: []string{"thumb", "wide", "card"}, Quality: 82, StoreOriginal: true, Formats: []string{"webp"}},
		"icon": {Variants: []string{"thumb"}, Quality: 60, Formats: []string{"webp"}},
	}
	defaultedVariants := map[string]xip.VariantSpec{
		"thumb": {Width: 32, Height: 32, Fit: xip.FitCover},
		"wide":  {Width: 100, Fit: xip.FitInside},
		"card":  {Width: 120, Height: 50, Fit: xip.FitInside},
	}
	out := checkMedia(e, upload{
		data: data, sourceType: "doc", sourceID: "d1", format: "jpeg", frames: 1, pixels: quadrants,
		uprightW: 300, uprightH: 200, storedW: 200, storedH: 300, orientation: 7,
	}, e.waitMedia(id), defaultedVariants, defaulted)
	if b := out["card"].Bounds(); b.Dx() != 75 || b.Dy() != 50 {
		t.Errorf("card (inside 120x50) of 300x200: %v, want 75x50", b.Size())
	}

	code, body = e.get("/img/config")
	presets := map[string][]string{"doc": {"thumb", "wide", "card"}, "icon": {"thumb"}}
	if want := map[string]any{"sourceTypes": defaulted, "variants": defaultedVariants, "variantPresets": presets}; code != 200 || !jsonEqual(body, want) {
		t.Errorf("config: %d %v\nwant %v", code, body, want)
	}
	if !jsonEqual(e.p.VariantPresets(), presets) || !jsonEqual(e.p.SourceTypes(), defaulted) || !jsonEqual(e.p.Variants(), defaultedVariants) {
		t.Errorf("accessors: %v %v %v", e.p.VariantPresets(), e.p.SourceTypes(), e.p.Variants())
	}
	// The accessors hand out copies.
	e.p.VariantPresets()["doc"][0] = "changed"
	delete(e.p.SourceTypes(), "doc")
	if !jsonEqual(e.p.VariantPresets(), presets) || len(e.p.SourceTypes()) != 2 {
		t.Error("changing what the accessors return changed the pipeline")
	}
	if variants["wide"].Fit != "" || sourceTypes["doc"].Quality != 0 || sourceTypes["doc"].Formats != nil {
		t.Error("New changed the caller's maps")
	}
	// The handler serves the configured prefix only.
	rec := httptest.NewRecorder()
	e.p.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/image-pipeline/config", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("default prefix still served: %d", rec.Code)
	}
}

// TestConfigValidation: New refuses a config that cannot work, saying why.
func TestConfigValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		edit func(*xip.Config)
		want string
	}{
		{"undefined variant", func(c *xip.Config) {
			c.SourceTypes = map[string]xip.SourceType{"a": {Variants: []string{"nope"}}}
		}, `uses variant "nope"`},
		{"cover without height", func(c *xip.Config) {
			c.Variants = map[string]xip.VariantSpec{"v": {Width: 10, Fit: xip.FitCover}}
			c.SourceTypes = map[string]xip.SourceType{"a": {Variants: []string{"v"}}}
		}, "cover needs a height"},
		{"no variants", func(c *xip.Config) { c.SourceTypes = map[string]xip.SourceType{"a": {}} }, "has no variants"},
		{"bad quality", func(c *xip.Config) {
			c.SourceTypes = map[string]xip.SourceType{"a": {Variants: []string{"sm"}, Quality: 101}}
		}, "quality 101"},
		{"bad source type name", func(c *xip.Config) {
			c.SourceTypes = map[string]xip.SourceType{"a/b": {Variants: []string{"sm"}}}
		}, `"a/b"`},
		{"svg allowed", func(c *xip.Config) { c.AllowedTypes = []string{"image/svg+xml"} }, "cannot be decoded"},
		{"bad format", func(c *xip.Config) {
			c.SourceTypes = map[string]xip.SourceType{"a": {Variants: []string{"sm"}, Formats: []string{"webp", "png"}}}
		}, `format "png"`},
		{"bad storage path", func(c *xip.Config) { c.MediaPath = "a/b" }, "one plain segment"},
		{"bad webp effort", func(c *xip.Config) { c.WebPEffort = 7 }, "webpEffort 7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := xip.Config{DataDir: t.TempDir(), Logger: quietLogger()}
			c.edit(&cfg)
			p, err := xip.New(context.Background(), cfg)
			if err == nil {
				p.Close(context.Background())
				t.Fatal("New accepted the config")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("New: %v, want it to say %q", err, c.want)
			}
		})
	}
}

// fetchBytes GETs a URL and returns its body, failing unless 200.
func (e *env) fetchBytes(url string) []byte {
	e.t.Helper()
	data, _ := e.fetch(url)
	return data
}
