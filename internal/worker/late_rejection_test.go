package worker

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ximagepipeline/ximagepipeline/internal/store"
	"github.com/ximagepipeline/ximagepipeline/moderation"
	"github.com/ximagepipeline/ximagepipeline/storage"
)

// TestLateRejectionKeepsAnotherWorkersMedia: a late attempt (attempt > 1,
// a rescued job) whose moderation rejects when another worker already
// completed the job records nothing, and must not remove that worker's
// media, which lives at the same keys: as fail does, decide removes the
// outputs only when it is the one recording the rejection.
func TestLateRejectionKeepsAnotherWorkersMedia(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, st, ls := newWorker(t)
	job := store.Job{ID: "job_late", SourceType: "avatar", SourceID: "u1", StagedKey: "staging/job_late", CreatedAt: time.Now()}
	if err := w.Jobs.Create(ctx, []store.Job{job}); err != nil {
		t.Fatal(err)
	}
	key := w.Layout.Variant("avatar", "u1", MediaID(job.ID), "sm", "webp")
	if err := ls.Put(ctx, key, bytes.NewReader([]byte("webp")), 4, "image/webp"); err != nil {
		t.Fatal(err)
	}
	// The first attempt, rescued but still alive, completes the job.
	if err := w.Jobs.Complete(ctx, 1, store.Media{ID: MediaID(job.ID), JobID: job.ID, SourceType: "avatar", SourceID: "u1",
		Facts: store.MediaFacts{Variants: []store.VariantFacts{{Name: "sm", Format: "webp", Key: key}}}, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// The second attempt's moderation rejects (a provider whose verdict changed).
	policy := &moderation.Policy{}
	_, err := w.decide(ctx, job, policy, checked{res: moderation.Result{Flags: []string{"nsfw"}, Confidence: 0.9}}, 2, false)
	if !errors.Is(err, errRejected) {
		t.Fatalf("decide = %v, want errRejected", err)
	}
	if j, _ := st.Job(ctx, job.ID); j.Outcome != store.Complete {
		t.Fatalf("outcome %q, want COMPLETE kept", j.Outcome)
	}
	rc, err := ls.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		t.Fatal("a rejection that recorded nothing removed the media another worker completed (its record now points at deleted files)")
	}
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
}
