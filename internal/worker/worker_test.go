package worker

import (
	"bytes"
	"context"
	"database/sql"
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
	"github.com/ximagepipeline/ximagepipeline/storage"
	"github.com/ximagepipeline/ximagepipeline/storage/local"
)

// newWorker is a Worker without imaging on a fresh SQLite database and
// local storage, with its store and storage.
func newWorker(t *testing.T) (*Worker, *store.Store, *local.Store) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, "", filepath.Join(dir, "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ls, err := local.New(filepath.Join(dir, "files"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ls.Close() })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	js, err := jobs.Open(ctx, st, jobs.Config{Queue: queue.Config{MaxAttempts: 3, Logger: logger}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	layout := storage.Layout{Staging: "staging", Media: "media", Originals: "originals"}
	return &Worker{Jobs: js, Storage: ls, Layout: layout, StagingGrace: time.Hour, Logger: logger}, st, ls
}

// TestCleanupPrunesSpentTokens: the sweep removes the records of upload
// tokens expired over SpentTokensKept ago, and keeps the others (which
// still stop a second use).
func TestCleanupPrunesSpentTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, st, _ := newWorker(t)
	for id, expired := range map[string]time.Duration{"old": SpentTokensKept + time.Minute, "recent": SpentTokensKept - time.Minute} {
		j := store.Job{ID: "job_" + id, SourceType: "avatar", SourceID: "u1", StagedKey: "staging/job_" + id, CreatedAt: time.Now(),
			TokenID: "utk_" + id, TokenExpires: time.Now().Add(-expired)}
		if err := w.Jobs.Create(ctx, []store.Job{j}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TokenJob(ctx, "utk_old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the record of a token expired over a day ago: %v, want it removed", err)
	}
	if job, err := st.TokenJob(ctx, "utk_recent"); err != nil || job != "job_recent" {
		t.Errorf("the record of a token expired an hour ago: %q, %v; want it kept", job, err)
	}
}

// TestFailKeepsAnotherWorkersMedia: a worker whose late attempt fails
// removes what it wrote only when it is the one recording the outcome; when
// another worker completed the job first, the objects are that worker's
// media (same keys) and stay.
func TestFailKeepsAnotherWorkersMedia(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, st, ls := newWorker(t)
	js := w.Jobs

	newJob := func(id string) (store.Job, string) {
		job := store.Job{ID: id, SourceType: "avatar", SourceID: "u1", StagedKey: "staging/" + id, CreatedAt: time.Now()}
		if err := st.InTx(ctx, func(tx *sql.Tx) error { return st.InsertJobs(ctx, tx, []store.Job{job}) }); err != nil {
			t.Fatal(err)
		}
		key := w.Layout.Variant("avatar", "u1", MediaID(id), "sm", "webp")
		if err := ls.Put(ctx, key, bytes.NewReader([]byte("webp")), 4, "image/webp"); err != nil {
			t.Fatal(err)
		}
		return job, key
	}
	exists := func(key string) bool {
		rc, err := ls.Get(ctx, key)
		if errors.Is(err, storage.ErrNotFound) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
		return true
	}
	late := failure.Processing(errors.New("late"))

	// Completed by another worker first: the late failure changes nothing.
	done, doneKey := newJob("job_done")
	if err := js.Complete(ctx, 2, store.Media{ID: MediaID(done.ID), JobID: done.ID,
		SourceType: "avatar", SourceID: "u1", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := w.fail(ctx, done, 3, late); err != nil {
		t.Fatal(err)
	}
	if !exists(doneKey) {
		t.Error("a late failure removed the media another worker completed")
	}
	if j, _ := st.Job(ctx, done.ID); j.Outcome != store.Complete {
		t.Errorf("outcome %q, want COMPLETE kept", j.Outcome)
	}

	// Failed by this worker: what its attempts wrote goes.
	lost, lostKey := newJob("job_lost")
	if err := w.fail(ctx, lost, 3, late); err != nil {
		t.Fatal(err)
	}
	if exists(lostKey) {
		t.Error("a failed job's output was left behind")
	}
	if j, _ := st.Job(ctx, lost.ID); j.Outcome != store.Failed || j.Error != "Processing failed" || j.ErrorCode != "PROCESSING_ERROR" {
		t.Errorf("outcome %q %q %q, want FAILED \"Processing failed\" PROCESSING_ERROR (its cause only logged)", j.Outcome, j.Error, j.ErrorCode)
	}
}
