package ximagepipeline_test

// Webhooks through the HTTP API: receivers run in httptest.Servers whose
// answers each test scripts, and check every delivery the documented way
// (signature.Verify), as a user's receiver would.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ximagepipeline/ximagepipeline/signature"

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/pgtest"
	"github.com/ximagepipeline/ximagepipeline/internal/queue"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
	"github.com/ximagepipeline/ximagepipeline/webhook"
)

const webhookSecret = "whsec-test-3f9a"

// receiver is a webhook endpoint. answer gets the delivery request's
// number (from 1) and returns the HTTP status; 0 hangs until the test ends
// or the pipeline gives up.
type receiver struct {
	t       *testing.T
	srv     *httptest.Server
	answer  func(n int) int
	release chan struct{} // closed at the end of the test: hanging requests return
	once    sync.Once

	mu      sync.Mutex
	got     []delivery
	hanging map[int]bool // numbers of the requests hanging now
}

// delivery is one request a receiver got, verified and decoded.
type delivery struct {
	header  http.Header
	body    []byte
	payload struct {
		Event  string          `json:"event"`
		JobID  string          `json:"jobId"`
		Status json.RawMessage `json:"status"`
	}
}

func newReceiver(t *testing.T, answer func(n int) int) *receiver {
	r := &receiver{t: t, answer: answer, release: make(chan struct{}), hanging: map[int]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var d delivery
		d.header, d.body = req.Header.Clone(), must(io.ReadAll(req.Body))
		if err := signature.Verify(webhookSecret, req.Header, d.body, time.Minute); err != nil {
			t.Errorf("receiver: %v", err)
		}
		if err := json.Unmarshal(d.body, &d.payload); err != nil {
			t.Errorf("receiver: body is not the payload: %v: %s", err, d.body)
		}
		if req.Method != http.MethodPost || req.URL.Path != "/hook" || req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("receiver: %s %s with Content-Type %q, want POST /hook, JSON", req.Method, req.URL.Path, req.Header.Get("Content-Type"))
		}
		r.mu.Lock()
		r.got = append(r.got, d)
		n := len(r.got)
		status := r.answer(n)
		if status == 0 {
			r.hanging[n] = true
		}
		r.mu.Unlock()
		if status == 0 {
			select {
			case <-r.release:
			case <-req.Context().Done():
			}
			r.mu.Lock()
			delete(r.hanging, n)
			r.mu.Unlock()
			status = http.StatusServiceUnavailable
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) url() string { return r.srv.URL + "/hook" }

// stop lets hanging requests return; the pipeline must close first
// otherwise it waits for them.
func (r *receiver) stop() { r.once.Do(func() { close(r.release) }) }

// waitFor waits, within pollDeadline, until n requests arrived and
// returns them all.
func (r *receiver) waitFor(n int) []delivery {
	r.t.Helper()
	deadline := time.Now().Add(pollDeadline)
	for {
		r.mu.Lock()
		got := append([]delivery(nil), r.got...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("receiver got %d requests after %s, want %d", len(got), pollDeadline, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// isHanging reports whether request number n (from 1) is hanging now.
func (r *receiver) isHanging(n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hanging[n]
}

// newWebhookEnv starts a pipeline sending its webhooks to the receivers;
// edit changes the config further.
func newWebhookEnv(t *testing.T, edit func(*xip.Config), receivers ...*receiver) *env {
	t.Helper()
	e := newEnv(t, func(cfg *xip.Config) {
		for _, r := range receivers {
			cfg.WebhookURLs = append(cfg.WebhookURLs, r.url())
		}
		cfg.WebhookSecret = webhookSecret
		if edit != nil {
			edit(cfg)
		}
	})
	for _, r := range receivers {
		t.Cleanup(r.stop) // before the pipeline closes: it waits for its deliveries
	}
	return e
}

// assertDelivery checks a delivery announces event for jobID with the
// status body the status route answers, byte for byte, and signed now.
func (e *env) assertDelivery(d delivery, event, jobID string) {
	e.t.Helper()
	if d.payload.Event != event || d.payload.JobID != jobID || d.header.Get(webhook.HeaderEvent) != event {
		e.t.Errorf("delivery: event %q (header %q), job %q; want %s of %s", d.payload.Event, d.header.Get(webhook.HeaderEvent), d.payload.JobID, event, jobID)
	}
	if id := d.header.Get(webhook.HeaderDelivery); !strings.HasPrefix(id, "dlv_") || len(id) < 20 {
		e.t.Errorf("delivery id %q, want dlv_ and a random part", id)
	}
	ts, err := strconv.ParseInt(d.header.Get(signature.HeaderTimestamp), 10, 64)
	if age := time.Since(time.Unix(ts, 0)); err != nil || age > pollDeadline+time.Minute || age < -time.Minute {
		e.t.Errorf("timestamp %q is not recent Unix seconds", d.header.Get(signature.HeaderTimestamp))
	}
	_, raw, _ := e.fetchAny(e.prefix() + "/status/" + jobID)
	if !bytes.Equal(d.payload.Status, bytes.TrimSpace(raw)) {
		e.t.Errorf("delivery status\n%s\nwant GET /status's body\n%s", d.payload.Status, raw)
	}
}

// webhookJobs counts the queue's webhook jobs, and those delivered.
func (e *env) webhookJobs() (all, delivered int) {
	e.t.Helper()
	db := openDB(e.t, e.dir)
	defer db.Close()
	entries, err := queue.Entries(context.Background(), db, queue.KindWebhook)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, d := range entries {
		if d.State == "completed" {
			delivered++
		}
	}
	return len(entries), delivered
}

// TestWebhookCompleted: each URL gets one signed job.completed carrying
// the status body of GET /status.
func TestWebhookCompleted(t *testing.T) {
	t.Parallel()
	r1, r2 := newReceiver(t, alwaysStatus(http.StatusOK)), newReceiver(t, alwaysStatus(http.StatusNoContent))
	e := newWebhookEnv(t, nil, r1, r2)
	id := e.uploadOK("gallery", "u1", "a.jpg", testimages.JPEG(testimages.Quadrants(300, 200), 90))
	e.waitMedia(id)
	for _, r := range []*receiver{r1, r2} {
		e.assertDelivery(r.waitFor(1)[0], webhook.EventCompleted, id)
	}
	if d1, d2 := r1.waitFor(1)[0], r2.waitFor(1)[0]; d1.header.Get(webhook.HeaderDelivery) == d2.header.Get(webhook.HeaderDelivery) {
		t.Errorf("both URLs got delivery id %q, want one each", d1.header.Get(webhook.HeaderDelivery))
	}
	waitDelivered(t, e, 2)
	if n := len(r1.waitFor(1)) + len(r2.waitFor(1)); n != 2 {
		t.Errorf("%d requests, want one per URL", n)
	}
}

// TestWebhookRejected: a flagged upload announces job.rejected with its
// moderation details.
func TestWebhookRejected(t *testing.T) {
	t.Parallel()
	p := newProvider(t, always(http.StatusOK, `{"flags": ["explicit"], "confidence": 0.97}`))
	r := newReceiver(t, alwaysStatus(http.StatusOK))
	e := newModeratedEnv(t, p, 5*time.Second, func(cfg *xip.Config) {
		cfg.WebhookURLs, cfg.WebhookSecret = []string{r.url()}, webhookSecret
	})
	t.Cleanup(r.stop)
	id := e.uploadOK("gallery", "u1", "a.jpg", testimages.JPEG(testimages.Quadrants(300, 200), 90))
	if code, body := e.wait(id); code != http.StatusBadRequest {
		t.Fatalf("job %s: %d %v, want 400 REJECTED", id, code, body)
	}
	d := r.waitFor(1)[0]
	e.assertDelivery(d, webhook.EventRejected, id)
	var status map[string]any
	json.Unmarshal(d.payload.Status, &status)
	if status["status"] != "REJECTED" || status["moderationDetails"] == nil {
		t.Errorf("status %v, want REJECTED with moderationDetails", status)
	}
}

// TestWebhookFailed: an image that cannot be decoded announces job.failed.
func TestWebhookFailed(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, alwaysStatus(http.StatusOK))
	e := newWebhookEnv(t, nil, r)
	id := e.uploadOK("gallery", "u1", "cut.jpg", testimages.TruncatedJPEG(400, 300))
	if code, body := e.wait(id); code != http.StatusInternalServerError || body["status"] != "FAILED" {
		t.Fatalf("job %s: %d %v, want 500 FAILED", id, code, body)
	}
	d := r.waitFor(1)[0]
	e.assertDelivery(d, webhook.EventFailed, id)
	var status map[string]any
	json.Unmarshal(d.payload.Status, &status)
	if status["status"] != "FAILED" || status["error"] == "" {
		t.Errorf("status %v, want FAILED with its error", status)
	}
}

// TestWebhookRetried: a receiver failing twice gets the delivery a third
// time, with the same delivery id and a fresh signature.
func TestWebhookRetried(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	e := newWebhookEnv(t, nil, r)
	id := e.uploadOK("avatar", "u1", "a.jpg", testimages.JPEG(testimages.Quadrants(120, 80), 90))
	e.waitMedia(id)
	got := r.waitFor(3)
	for i, d := range got {
		e.assertDelivery(d, webhook.EventCompleted, id)
		if d.header.Get(webhook.HeaderDelivery) != got[0].header.Get(webhook.HeaderDelivery) {
			t.Errorf("try %d: delivery id %q, want the first try's %q", i+1, d.header.Get(webhook.HeaderDelivery), got[0].header.Get(webhook.HeaderDelivery))
		}
	}
	waitDelivered(t, e, 1)
	if n := len(r.waitFor(3)); n != 3 {
		t.Errorf("%d requests, want 3 (delivered on the third)", n)
	}
}

// TestWebhookAttemptsAndTimeout: a receiver that never answers fails each
// try after WebhookTimeout, and the delivery gives up after
// WebhookMaxAttempts tries (the defaults, 10 s and 10, would not send a
// second request within this test's wait).
func TestWebhookAttemptsAndTimeout(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, alwaysStatus(0)) // hangs
	e := newWebhookEnv(t, func(cfg *xip.Config) {
		cfg.WebhookTimeout = 300 * time.Millisecond
		cfg.WebhookMaxAttempts = 2
	}, r)
	id := e.uploadOK("avatar", "u1", "a.jpg", testimages.JPEG(testimages.Quadrants(120, 80), 90))
	e.waitMedia(id)
	for _, d := range r.waitFor(2) {
		e.assertDelivery(d, webhook.EventCompleted, id)
	}
	deadline := time.Now().Add(pollDeadline)
	for {
		db := openDB(t, e.dir)
		entries, err := queue.Entries(context.Background(), db, queue.KindWebhook)
		db.Close()
		if err != nil || len(entries) != 1 {
			t.Fatalf("webhook queue entries: %v, %v; want one", entries, err)
		}
		state := entries[0].State
		if state == "discarded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the delivery is %s after two failed tries, want discarded", state)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(r.waitFor(2)); n != 2 {
		t.Errorf("%d requests, want 2 (WebhookMaxAttempts)", n)
	}
}

// TestWebhookPostgres: on PostgreSQL the webhook jobs are inserted through
// database/sql inside the outcome's transaction and worked by the pgx
// client's own "webhooks" queue; a failed try is retried there too.
func TestWebhookPostgres(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, func(n int) int {
		if n == 1 {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	e := newWebhookEnv(t, func(cfg *xip.Config) { cfg.DatabaseURL = pgtest.Start(t) }, r)
	id := e.uploadOK("avatar", "u1", "a.jpg", testimages.JPEG(testimages.Quadrants(120, 80), 90))
	e.waitMedia(id)
	for _, d := range r.waitFor(2) {
		e.assertDelivery(d, webhook.EventCompleted, id)
	}
}

// TestWebhookHangingReceiver: deliveries hanging on a receiver hold no
// image worker: while the first two hang (the pipeline has two image
// workers), later uploads still complete. No time is asserted: the
// pipeline gives up on a hanging request after 10 s, and the first two
// must still be hanging when the later jobs are COMPLETE.
func TestWebhookHangingReceiver(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, alwaysStatus(0))
	e := newWebhookEnv(t, nil, r)
	img := testimages.JPEG(testimages.Quadrants(120, 80), 90)
	for i := range 2 {
		e.waitMedia(e.uploadOK("avatar", "u1", "a.jpg", img))
		r.waitFor(i + 1)
	}
	var ids []string
	for range 3 {
		ids = append(ids, e.uploadOK("avatar", "u1", "a.jpg", img))
	}
	for _, id := range ids {
		e.waitMedia(id)
	}
	if !r.isHanging(1) || !r.isHanging(2) {
		t.Errorf("the first deliveries stopped hanging before the later jobs completed: they held image workers")
	}
}

// TestWebhookNone: without URLs no webhook job is queued.
func TestWebhookNone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.waitMedia(e.uploadOK("avatar", "u1", "a.jpg", testimages.JPEG(testimages.Quadrants(120, 80), 90)))
	e.waitMedia(e.uploadOK("gallery", "u1", "b.jpg", testimages.JPEG(testimages.Quadrants(300, 200), 90)))
	if all, _ := e.webhookJobs(); all != 0 {
		t.Errorf("%d webhook jobs queued, want none", all)
	}
}

// TestWebhookConfig: URLs must be absolute http(s) and need a secret.
func TestWebhookConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		urls   []string
		secret string
		ok     bool
	}{
		{"https", []string{"https://hooks.example/x"}, "s", true},
		{"relative", []string{"/hooks"}, "s", false},
		{"other scheme", []string{"ftp://hooks.example/x"}, "s", false},
		{"no host", []string{"http:///x"}, "s", false},
		{"no secret", []string{"https://hooks.example/x"}, "", false},
		{"secret only", nil, "s", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			p, err := xip.New(ctx, xip.Config{DataDir: t.TempDir(), Logger: quietLogger(), DisableWorkers: true,
				WebhookURLs: tc.urls, WebhookSecret: tc.secret})
			if err == nil {
				p.Close(ctx)
			}
			if (err == nil) != tc.ok {
				t.Errorf("New: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// waitDelivered waits, within pollDeadline, until n webhook jobs are
// done and none is left in the queue.
func waitDelivered(t *testing.T, e *env, n int) {
	t.Helper()
	deadline := time.Now().Add(pollDeadline)
	for {
		all, delivered := e.webhookJobs()
		if all == n && delivered == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d webhook jobs, %d delivered, after %s; want %d delivered", all, delivered, pollDeadline, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func alwaysStatus(status int) func(int) int { return func(int) int { return status } }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
