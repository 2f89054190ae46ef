package ximagepipeline_test

// Content moderation through the HTTP API: a provider speaking the http
// moderation protocol (docs/moderation.md) runs in an httptest.Server whose
// answers each test scripts.

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ximagepipeline/ximagepipeline/signature"

	"github.com/aws/aws-sdk-go-v2/credentials"

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/pgtest"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
	"github.com/ximagepipeline/ximagepipeline/moderation"
	"github.com/ximagepipeline/ximagepipeline/moderation/httpmod"
	"github.com/ximagepipeline/ximagepipeline/moderation/rekognition"
	"github.com/ximagepipeline/ximagepipeline/moderation/rekognition/rekognitiontest"
)

const providerSecret = "test-secret"

// provider is a moderation endpoint. answer gets the request's number
// (from 1) and returns the HTTP status and body; status 0 hangs until the
// client gives up.
type provider struct {
	t      *testing.T
	srv    *httptest.Server
	answer func(n int) (int, string)

	mu       sync.Mutex
	requests []providerRequest
}

type providerRequest struct {
	header http.Header
	body   []byte
}

func newProvider(t *testing.T, answer func(n int) (int, string)) *provider {
	p := &provider{t: t, answer: answer}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.requests = append(p.requests, providerRequest{r.Header.Clone(), body})
		n := len(p.requests)
		p.mu.Unlock()
		if err := signature.Verify(providerSecret, r.Header, body, time.Minute); err != nil {
			t.Errorf("provider: request %d: %v", n, err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		status, answer := p.answer(n)
		if status == 0 {
			<-r.Context().Done() // the pipeline's timeout ends it
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// sourceID is the source id request number n (from 1) was sent for.
func (p *provider) sourceID(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests[n-1].header.Get(httpmod.HeaderSourceID)
}

func (p *provider) calls() []providerRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]providerRequest(nil), p.requests...)
}

// always answers every request alike.
func always(status int, body string) func(int) (int, string) {
	return func(int) (int, string) { return status, body }
}

// newModeratedEnv starts a pipeline moderated by p through the http
// provider; edit changes the config further.
func newModeratedEnv(t *testing.T, p *provider, timeout time.Duration, edit func(*xip.Config)) *env {
	t.Helper()
	m, err := httpmod.New(httpmod.Options{URL: p.srv.URL + "/moderate", Secret: providerSecret, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, func(cfg *xip.Config) {
		cfg.Moderator = m
		if edit != nil {
			edit(cfg)
		}
	})
}

// assertNothingPublished fails when any variant or original exists, and
// waits until the staged upload is gone.
func (e *env) assertNothingPublished() {
	e.t.Helper()
	for _, sub := range []string{"media", "originals"} {
		if f := e.files(sub); len(f) > 0 {
			e.t.Errorf("%s holds %v, want nothing published", sub, f)
		}
	}
	e.waitNothingStaged()
}

// storedModeration reads a job's outcome and moderation column from the
// pipeline's database.
func (e *env) storedModeration(jobID string) (outcome string, details map[string]any) {
	e.t.Helper()
	db := openDB(e.t, e.dir)
	var raw []byte
	if err := db.QueryRow(`SELECT outcome, moderation FROM ximage_jobs WHERE id = ?`, jobID).Scan(&outcome, &raw); err != nil {
		e.t.Fatal(err)
	}
	if raw != nil {
		if err := json.Unmarshal(raw, &details); err != nil {
			e.t.Fatalf("stored moderation %q: %v", raw, err)
		}
	}
	return outcome, details
}

// TestModerationApproves: an approved upload completes; the provider saw a
// signed POST of an upright, small, metadata-free JPEG with the job's facts.
func TestModerationApproves(t *testing.T) {
	t.Parallel()
	p := newProvider(t, always(http.StatusOK, `{"flags": [], "confidence": 0.99, "model": "test"}`))
	e := newModeratedEnv(t, p, 5*time.Second, nil)
	// 1200x800 upright, stored rotated with EXIF orientation 6.
	src := testimages.OrientedJPEG(testimages.Quadrants(1200, 800), 6)
	id := e.uploadOK("gallery", "post-1", "photo.jpg", src)
	media := e.waitMedia(id)
	if len(e.files("media")) == 0 || len(e.files("originals")) != 1 {
		t.Errorf("published %v and %v, want the variants and the original", e.files("media"), e.files("originals"))
	}
	if media["width"] != 1200.0 || media["height"] != 800.0 {
		t.Errorf("media %vx%v, want 1200x800", media["width"], media["height"])
	}

	calls := p.calls()
	if len(calls) != 1 {
		t.Fatalf("%d provider calls, want 1", len(calls))
	}
	c := calls[0]
	for header, want := range map[string]string{
		"Content-Type": "image/jpeg", httpmod.HeaderJobID: id, httpmod.HeaderSourceType: "gallery",
		httpmod.HeaderSourceID: "post-1", httpmod.HeaderAttempt: "1",
	} {
		if got := c.header.Get(header); got != want {
			t.Errorf("provider got %s %q, want %q", header, got, want)
		}
	}
	assertCleanJPEG(t, "moderation image", c.body)
	img, err := jpeg.Decode(bytes.NewReader(c.body))
	if err != nil {
		t.Fatalf("moderation image: %v", err)
	}
	if b := img.Bounds(); b.Dx() != moderation.DefaultMaxSide || b.Dy() != 341 {
		t.Errorf("moderation image %dx%d, want upright %dx341", b.Dx(), b.Dy(), moderation.DefaultMaxSide)
	}
	if got, want := testimages.QuadrantColors(img), testimages.QuadrantColors(testimages.Quadrants(1200, 800)); got != want {
		t.Errorf("moderation image quadrants %v, want upright %v", got, want)
	}
	if outcome, details := e.storedModeration(id); outcome != "COMPLETE" || details != nil {
		t.Errorf("stored %s %v, want COMPLETE without moderation details", outcome, details)
	}
}

// TestModerationRejects: a flagged upload ends REJECTED with the
// contract's exact status body, publishes nothing, and its staged file goes.
func TestModerationRejects(t *testing.T) {
	t.Parallel()
	p := newProvider(t, always(http.StatusOK, `{"flags": ["explicit"], "confidence": 0.97}`))
	e := newModeratedEnv(t, p, 5*time.Second, nil)
	for _, st := range []string{"gallery", "avatar"} { // with and without a stored original
		t.Run(st, func(t *testing.T) {
			e := e.sub(t)
			id := e.uploadOK(st, "u1", "a.jpg", testimages.JPEG(testimages.Quadrants(300, 200), 90))
			code, body := e.wait(id)
			want := map[string]any{
				"jobId": id, "status": "REJECTED", "reason": "Content moderation failed",
				"moderationDetails": map[string]any{"flags": []any{"explicit"}, "confidence": 0.97},
			}
			if code != http.StatusBadRequest || !jsonEqual(body, want) {
				t.Errorf("got %d %v, want 400 %v", code, body, want)
			}
			job, err := e.p.GetStatus(context.Background(), id)
			if err != nil || job.Status != xip.StatusRejected || job.Attempts != 1 || job.Media != nil {
				t.Errorf("GetStatus: %+v, %v", job, err)
			}
			outcome, details := e.storedModeration(id)
			if outcome != "REJECTED" || !jsonEqual(details, want["moderationDetails"]) {
				t.Errorf("stored %s %v, want REJECTED %v", outcome, details, want["moderationDetails"])
			}
			e.assertNothingPublished()
		})
	}
}

// TestModerationPolicy: per source type, moderation can be off, a flag
// can only annotate, and a low confidence does not reject.
func TestModerationPolicy(t *testing.T) {
	t.Parallel()
	// Source ids choose the answer: "suggestive" or "unsure".
	p := newProvider(t, nil)
	p.answer = func(n int) (int, string) {
		if p.sourceID(n) == "unsure" {
			return http.StatusOK, `{"flags": ["explicit"], "confidence": 0.55}`
		}
		return http.StatusOK, `{"flags": ["suggestive"], "confidence": 0.9}`
	}
	e := newModeratedEnv(t, p, 5*time.Second, func(cfg *xip.Config) {
		cfg.Moderation = moderation.Policy{Reject: []string{"explicit"}, MinConfidence: 0.8}
		cfg.SourceTypes = xip.DefaultSourceTypes()
		avatar := cfg.SourceTypes["avatar"]
		avatar.Moderation = &moderation.Policy{Disabled: true}
		cfg.SourceTypes["avatar"] = avatar
		hero := cfg.SourceTypes["hero"]
		hero.Moderation = &moderation.Policy{} // every flag rejects
		cfg.SourceTypes["hero"] = hero
	})
	jpg := testimages.JPEG(testimages.Quadrants(300, 200), 90)
	tests := []struct {
		sourceType, sourceID string
		wantCode             int
		wantStatus           string
		wantCall             bool
	}{
		{"gallery", "suggestive", http.StatusOK, "COMPLETE", true},      // annotates only
		{"gallery", "unsure", http.StatusOK, "COMPLETE", true},          // explicit below 0.8
		{"hero", "suggestive", http.StatusBadRequest, "REJECTED", true}, // the source type's own policy
		{"avatar", "suggestive", http.StatusOK, "COMPLETE", false},      // not moderated
	}
	for _, tt := range tests {
		t.Run(tt.sourceType+"/"+tt.sourceID, func(t *testing.T) {
			e := e.sub(t)
			before := len(p.calls())
			id := e.uploadOK(tt.sourceType, tt.sourceID, "a.jpg", jpg)
			if code, body := e.wait(id); code != tt.wantCode || body["status"] != tt.wantStatus {
				t.Errorf("got %d %v, want %d %s", code, body, tt.wantCode, tt.wantStatus)
			}
			if called := len(p.calls()) > before; called != tt.wantCall {
				t.Errorf("provider called: %v, want %v", called, tt.wantCall)
			}
		})
	}
}

// TestModerationProviderFailures: a provider that is down or too slow is
// a failure that passes: retried, never approved; after the last attempt
// the job fails, unless the policy fails open.
func TestModerationProviderFailures(t *testing.T) {
	t.Parallel()
	const approve = `{"flags": [], "confidence": 0.9}`
	downThenUp := func(n int) (int, string) {
		if n == 1 {
			return http.StatusServiceUnavailable, `{"error": "warming up"}`
		}
		return http.StatusOK, approve
	}
	tests := []struct {
		name       string
		answer     func(int) (int, string)
		failOpen   bool
		wantCode   int
		wantStatus string
		wantCalls  int
	}{
		{"down then up", downThenUp, false, http.StatusOK, "COMPLETE", 2},
		{"down", always(http.StatusServiceUnavailable, `{"error": "down"}`), false, http.StatusInternalServerError, "FAILED", 3},
		{"timeout", always(0, ""), false, http.StatusInternalServerError, "FAILED", 3},
		{"not the protocol", always(http.StatusOK, `<html>hello</html>`), false, http.StatusInternalServerError, "FAILED", 3},
		{"down, fail-open", always(http.StatusServiceUnavailable, `{"error": "down"}`), true, http.StatusOK, "COMPLETE", 3},
		{"timeout, fail-open", always(0, ""), true, http.StatusOK, "COMPLETE", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t, tt.answer)
			e := newModeratedEnv(t, p, 300*time.Millisecond, func(cfg *xip.Config) {
				cfg.MaxAttempts = 3
				cfg.Moderation.FailOpen = tt.failOpen
			})
			id := e.uploadOK("gallery", "u1", "a.jpg", testimages.JPEG(testimages.Quadrants(300, 200), 90))
			code, body := e.wait(id)
			if code != tt.wantCode || body["status"] != tt.wantStatus {
				t.Fatalf("got %d %v, want %d %s", code, body, tt.wantCode, tt.wantStatus)
			}
			if n := len(p.calls()); n != tt.wantCalls {
				t.Errorf("%d provider calls, want %d", n, tt.wantCalls)
			}
			if tt.wantStatus == "FAILED" {
				want := map[string]any{"jobId": id, "status": "FAILED", "error": "Content moderation unavailable", "code": "MODERATION_UNAVAILABLE", "attempts": 3}
				if !jsonEqual(body, want) {
					t.Errorf("got %v, want %v", body, want)
				}
				e.assertNothingPublished()
				return
			}
			if job, err := e.p.GetStatus(context.Background(), id); err != nil || job.Attempts != tt.wantCalls {
				t.Errorf("GetStatus: %+v, %v; want %d attempts", job, err, tt.wantCalls)
			}
			if len(e.files("media")) == 0 {
				t.Error("nothing published")
			}
			e.waitNothingStaged()
		})
	}
}

// TestModerationImageIsSmall: the provider gets a bounded copy, not the
// upload, whatever the upload's size and format.
func TestModerationImageIsSmall(t *testing.T) {
	t.Parallel()
	p := newProvider(t, always(http.StatusOK, `{"flags": []}`))
	e := newModeratedEnv(t, p, 5*time.Second, nil)
	uploads := map[string][]byte{
		"tall.png":  testimages.PNG(testimages.Quadrants(300, 1500)),
		"alpha.png": testimages.AlphaPNG(64, 48),
	}
	for name, data := range uploads {
		e.waitMedia(e.uploadOK("content", "u1", name, data))
	}
	for _, c := range p.calls() {
		cfg, format, err := image.DecodeConfig(bytes.NewReader(c.body))
		if err != nil || format != "jpeg" || max(cfg.Width, cfg.Height) > moderation.DefaultMaxSide {
			t.Errorf("moderation image %s %dx%d (%v), want a JPEG within %d px", format, cfg.Width, cfg.Height, err, moderation.DefaultMaxSide)
		}
	}
}

// TestModerationRekognition: the rekognition provider, the AWS SDK pointed
// at a local server speaking Rekognition's protocol, rejects through the
// pipeline with Rekognition's labels kept in the details.
func TestModerationRekognition(t *testing.T) {
	t.Parallel()
	srv := rekognitiontest.New(t,
		rekognitiontest.Label{Name: "Explicit Nudity", ParentName: "Explicit", Confidence: 97, TaxonomyLevel: 2},
		rekognitiontest.Label{Name: "Explicit", Confidence: 97, TaxonomyLevel: 1},
	)
	m, err := rekognition.New(context.Background(), rekognition.Options{
		Region: "eu-west-1", Endpoint: srv.URL,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(cfg *xip.Config) { cfg.Moderator = m })
	id := e.uploadOK("gallery", "u1", "a.jpg", testimages.JPEG(testimages.Quadrants(300, 200), 90))
	code, body := e.wait(id)
	details, _ := body["moderationDetails"].(map[string]any)
	if code != http.StatusBadRequest || body["status"] != "REJECTED" || !jsonEqual(details["flags"], []string{"explicit"}) ||
		details["confidence"] != 0.97 || len(details["labels"].([]any)) != 2 {
		t.Errorf("got %d %v, want 400 REJECTED explicit 0.97 with 2 labels", code, body)
	}
	if reqs := srv.Requests(); len(reqs) != 1 || !reqs[0].Signed || !bytes.HasPrefix(reqs[0].Image, []byte{0xFF, 0xD8}) {
		t.Errorf("Rekognition got %d requests, want one signed with a JPEG", len(reqs))
	}
	e.assertNothingPublished()
}

// TestModerationOnMedia: what moderation said of a published upload shows
// in its media object everywhere a client meets it (the status, GET media,
// the owner's list, the webhook, the Go API), on SQLite and PostgreSQL:
// "approved" with the flags that only annotate, "unchecked" when published
// fail-open, nothing when the source type is not moderated.
func TestModerationOnMedia(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			// Source ids choose the provider's answer.
			p := newProvider(t, nil)
			p.answer = func(n int) (int, string) {
				switch p.sourceID(n) {
				case "annotated":
					return http.StatusOK, `{"flags": ["suggestive"], "confidence": 0.9, "labels": [{"name": "Sexy", "confidence": 0.9}]}`
				case "clean":
					return http.StatusOK, `{"flags": [], "confidence": 0.99}`
				}
				return http.StatusServiceUnavailable, `{"error": "down"}`
			}
			r := newReceiver(t, alwaysStatus(http.StatusOK))
			e := newModeratedEnv(t, p, 5*time.Second, func(cfg *xip.Config) {
				if engine == "postgres" {
					cfg.DatabaseURL = pgtest.Start(t)
				}
				cfg.MaxAttempts = 2
				cfg.Moderation = moderation.Policy{Reject: []string{"explicit"}, FailOpen: true}
				cfg.SourceTypes = xip.DefaultSourceTypes()
				avatar := cfg.SourceTypes["avatar"]
				avatar.Moderation = &moderation.Policy{Disabled: true}
				cfg.SourceTypes["avatar"] = avatar
				cfg.WebhookURLs, cfg.WebhookSecret = []string{r.url()}, webhookSecret
			})
			t.Cleanup(r.stop)

			tests := []struct {
				sourceType, sourceID string
				want                 map[string]any // nil: no "moderation" field
			}{
				{"gallery", "annotated", map[string]any{
					"status": "approved", "annotations": []any{"suggestive"}, "confidence": 0.9, "provider": "http",
					"labels": []any{map[string]any{"name": "Sexy", "confidence": 0.9}},
				}},
				{"gallery", "clean", map[string]any{"status": "approved", "confidence": 0.99, "provider": "http"}},
				{"gallery", "down", map[string]any{"status": "unchecked"}},
				{"avatar", "annotated", nil}, // not moderated: the provider is not even asked
			}
			jpg := testimages.JPEG(testimages.Quadrants(300, 200), 90)
			jobs := map[string]int{} // job id -> test case
			for i, tt := range tests {
				jobs[e.uploadOK(tt.sourceType, tt.sourceID, "a.jpg", jpg)] = i
			}
			assertModeration := func(where string, media map[string]any, want map[string]any) {
				t.Helper()
				got, ok := media["moderation"]
				switch {
				case want == nil && ok:
					t.Errorf("%s: moderation %v, want no such field", where, got)
				case want != nil && !jsonEqual(got, want):
					t.Errorf("%s: moderation %v, want %v", where, got, want)
				}
			}
			for id, i := range jobs {
				tt := tests[i]
				name := tt.sourceType + "/" + tt.sourceID
				media := e.waitMedia(id)
				assertModeration(name+": GET status", media, tt.want)

				mediaID, _ := media["id"].(string)
				code, body := e.get(e.prefix() + "/media/" + mediaID)
				if code != http.StatusOK {
					t.Fatalf("%s: GET media: %d %v", name, code, body)
				}
				assertModeration(name+": GET media", body, tt.want)

				code, body = e.get(e.prefix() + "/media?sourceType=" + tt.sourceType + "&sourceId=" + tt.sourceID)
				list, _ := body["media"].([]any)
				if code != http.StatusOK || len(list) != 1 {
					t.Fatalf("%s: list: %d %v, want one media", name, code, body)
				}
				assertModeration(name+": list", list[0].(map[string]any), tt.want)

				m, err := e.p.GetMedia(context.Background(), mediaID)
				if err != nil {
					t.Fatal(err)
				}
				if tt.want == nil && m.Moderation != nil || tt.want != nil && !jsonEqual(m.Moderation, tt.want) {
					t.Errorf("%s: GetMedia().Moderation = %+v, want %v", name, m.Moderation, tt.want)
				}
			}
			// The webhook carries the status body, moderation included.
			for _, d := range r.waitFor(len(tests)) {
				i, ok := jobs[d.payload.JobID]
				if !ok {
					t.Fatalf("webhook for unknown job %s", d.payload.JobID)
				}
				var status struct {
					Media map[string]any `json:"media"`
				}
				if err := json.Unmarshal(d.payload.Status, &status); err != nil {
					t.Fatal(err)
				}
				assertModeration(tests[i].sourceType+"/"+tests[i].sourceID+": webhook", status.Media, tests[i].want)
			}
			if n := len(p.calls()); n != 4 { // annotated, clean, down twice
				t.Errorf("%d provider calls, want 4", n)
			}
		})
	}
}
