package jobs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/ximagepipeline/ximagepipeline/failure"
	"github.com/ximagepipeline/ximagepipeline/internal/jobs"
	"github.com/ximagepipeline/ximagepipeline/internal/queue"
	"github.com/ximagepipeline/ximagepipeline/internal/store"
	"github.com/ximagepipeline/ximagepipeline/webhook"
)

// handler is a queue.Handler whose Process does what the test says.
type handler struct {
	process func(ctx context.Context, jobID string, attempt int) error
}

func (h handler) Process(ctx context.Context, jobID string, attempt, _ int) error {
	return h.process(ctx, jobID, attempt)
}
func (handler) Cleanup(context.Context) error { return nil }

// sender takes every webhook delivery without sending it.
type sender struct{}

func (sender) Send(context.Context, webhook.Delivery) error { return nil }

// open starts a Service with workers on a fresh SQLite database; its jobs
// are tried up to maxAttempts times, 10 ms apart.
func open(t *testing.T, maxAttempts int, webhookURLs []string, h handler) (*jobs.Service, *store.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "", filepath.Join(t.TempDir(), "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := jobs.Open(ctx, st, jobs.Config{WebhookURLs: webhookURLs, Queue: queue.Config{
		Work: true, Concurrency: 2, MaxAttempts: maxAttempts, RetryBackoff: 10 * time.Millisecond,
		PollInterval: 100 * time.Millisecond, JobTimeout: time.Minute, RescueAfter: time.Hour, CleanupInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Webhooks: sender{},
	}}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Stop(ctx)
	})
	return s, st
}

func create(t *testing.T, s *jobs.Service, id string) store.Job {
	t.Helper()
	j := store.Job{ID: id, SourceType: "avatar", SourceID: "u1", StagedKey: "staging/" + id, CreatedAt: time.Now()}
	if err := s.Create(context.Background(), []store.Job{j}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Job(context.Background(), id)
	if err != nil || got.QueueJobID == 0 {
		t.Fatalf("Job(%s) after Create: %+v, %v; want its queue entry's id", id, got, err)
	}
	return got
}

// waitStatus polls Get until the job has status want.
func waitStatus(t *testing.T, s *jobs.Service, id string, want jobs.Status) jobs.View {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, err := s.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if v.Status == want {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %s, want %s", id, v.Status, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStatusFollowsTheQueue: before an outcome is recorded the status is
// the queue's (PENDING, PROCESSING); a job the queue gave up on is FAILED
// with the queue's last error at once, and Reconcile records it so once.
func TestStatusFollowsTheQueue(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	s, _ := open(t, 2, nil, handler{func(ctx context.Context, jobID string, attempt int) error {
		if jobID == "job_held" {
			<-release
			return nil
		}
		return errors.New("worker lost its disk") // never records an outcome
	}})
	held := create(t, s, "job_held")
	waitStatus(t, s, held.ID, jobs.Processing)
	close(release)
	// Returning nil without an outcome (a worker finding the job already
	// done) leaves the queue entry completed: the job reads FAILED rather
	// than PROCESSING forever.
	v := waitStatus(t, s, held.ID, jobs.Failed)
	if v.ErrorCode != "PROCESSING_ERROR" || v.Error != "Processing failed" {
		t.Errorf("completed entry without outcome: %q %q, want PROCESSING_ERROR \"Processing failed\"", v.ErrorCode, v.Error)
	}

	lost := create(t, s, "job_lost")
	v = waitStatus(t, s, lost.ID, jobs.Failed)
	if v.Error != "Processing failed" || v.ErrorCode != "PROCESSING_ERROR" || v.Attempts != 2 {
		t.Errorf("abandoned job: %q %q after %d attempts, want \"Processing failed\" (the cause is not shown), PROCESSING_ERROR, 2", v.Error, v.ErrorCode, v.Attempts)
	}
	if v.Outcome != store.Failed {
		t.Errorf("outcome %q, want FAILED", v.Outcome)
	}
	rec, _ := s.Job(context.Background(), lost.ID)
	if rec.Outcome != "" {
		t.Fatalf("Get recorded an outcome (%q): reading must not write", rec.Outcome)
	}
	finished, recorded, err := s.Reconcile(context.Background(), rec)
	if err != nil || !finished || !recorded {
		t.Fatalf("Reconcile: finished %v recorded %v, %v; want true true", finished, recorded, err)
	}
	rec, _ = s.Job(context.Background(), lost.ID)
	if rec.Outcome != store.Failed || rec.ErrorCode != "PROCESSING_ERROR" || rec.Error != v.Error || rec.Attempts != 2 {
		t.Errorf("recorded %+v, want FAILED as the status said", rec)
	}
	if finished, recorded, err := s.Reconcile(context.Background(), rec); err != nil || !finished || recorded {
		t.Errorf("second Reconcile: finished %v recorded %v, %v; want true false", finished, recorded, err)
	}
}

// TestOutcomesAreRecordedOnce: the first outcome wins, and each recorded
// outcome queues its webhooks in the same transaction, one per URL.
func TestOutcomesAreRecordedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	urls := []string{"http://127.0.0.1:1/a", "http://127.0.0.1:1/b"}
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	s, st := open(t, 3, urls, handler{func(ctx context.Context, jobID string, attempt int) error {
		select { // keep the jobs running: the test records their outcomes itself
		case <-block:
		case <-ctx.Done():
		}
		return nil
	}})
	done := create(t, s, "job_done")
	if err := s.Complete(ctx, 1, store.Media{ID: "med_done", JobID: done.ID, SourceType: "avatar", SourceID: "u1", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if recorded, err := s.Fail(ctx, done, 1, failure.Undecodable("late", nil)); err != nil || recorded {
		t.Errorf("Fail after Complete: recorded %v, %v; want false", recorded, err)
	}
	if v, _ := s.Get(ctx, done.ID); v.Status != jobs.Complete || v.MediaID != "med_done" {
		t.Errorf("%+v, want COMPLETE with its media", v)
	}

	bad := create(t, s, "job_bad")
	if recorded, err := s.Fail(ctx, bad, 1, failure.Undecodable("truncated", nil)); err != nil || !recorded {
		t.Fatalf("Fail: recorded %v, %v; want true", recorded, err)
	}
	if recorded, err := s.Reject(ctx, bad, 2, []byte(`{}`)); err != nil || recorded {
		t.Errorf("Reject after Fail: recorded %v, %v; want false", recorded, err)
	}
	if v, _ := s.Get(ctx, bad.ID); v.Status != jobs.Failed || v.ErrorCode != "UNDECODABLE" || v.Error != "Image could not be decoded: truncated" {
		t.Errorf("%+v, want FAILED UNDECODABLE", v)
	}

	flagged := create(t, s, "job_flagged")
	if recorded, err := s.Reject(ctx, flagged, 1, []byte(`{"flags":["nudity"]}`)); err != nil || !recorded {
		t.Fatalf("Reject: recorded %v, %v; want true", recorded, err)
	}
	if v, _ := s.Get(ctx, flagged.ID); v.Status != jobs.Rejected || string(v.Moderation) != `{"flags":["nudity"]}` {
		t.Errorf("%+v, want REJECTED with its details", v)
	}

	deliveries, err := queue.Entries(ctx, st.DB(), queue.KindWebhook)
	if err != nil {
		t.Fatal(err)
	}
	perJob := map[string]int{}
	for _, d := range deliveries {
		perJob[d.JobID]++
	}
	want := map[string]int{"job_done": 2, "job_bad": 2, "job_flagged": 2}
	if len(perJob) != len(want) || perJob["job_done"] != 2 || perJob["job_bad"] != 2 || perJob["job_flagged"] != 2 {
		t.Errorf("webhook deliveries per job %v, want %v: one per URL per recorded outcome", perJob, want)
	}
}

// TestUnknownJob: a job id without a record is ErrNotFound.
func TestUnknownJob(t *testing.T) {
	t.Parallel()
	s, _ := open(t, 1, nil, handler{func(context.Context, string, int) error { return nil }})
	if _, err := s.Get(context.Background(), "job_nope"); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("Get: %v, want ErrNotFound", err)
	}
}

// TestFailedWithoutCode: a FAILED outcome recorded without a code (by a
// worker older than the codes, during a rolling upgrade) reads as
// PROCESSING_ERROR, never as an empty code.
func TestFailedWithoutCode(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	s, st := open(t, 1, nil, handler{func(ctx context.Context, _ string, _ int) error {
		select {
		case <-block:
		case <-ctx.Done():
		}
		return nil
	}})
	j := create(t, s, "job_old")
	j.Outcome, j.Error, j.Attempts = store.Failed, "Processing failed: disk full", 1
	if err := st.FinishJob(context.Background(), j, nil); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get(context.Background(), j.ID); err != nil || v.Status != jobs.Failed || v.ErrorCode != "PROCESSING_ERROR" || v.Error != j.Error {
		t.Errorf("Get = %+v, %v; want FAILED PROCESSING_ERROR with its message", v, err)
	}
}
