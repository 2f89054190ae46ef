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

// TestFailKeepsAnotherWorkersMedia: a worker whose late attempt fails
// removes what it wrote only when it is the one recording the outcome; when
// another worker completed the job first, the objects are that worker's
// media (same keys) and stay.
func TestFailKeepsAnotherWorkersMedia(t *testing.T) {
	t.Parallel()
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
	w := &Worker{Jobs: js, Storage: ls, Layout: storage.Layout{Staging: "staging", Media: "media", Originals: "originals"}, Logger: logger}

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
	if j, _ := st.Job(ctx, lost.ID); j.Outcome != store.Failed || j.Error != "Processing failed: late" || j.ErrorCode != "PROCESSING_ERROR" {
		t.Errorf("outcome %q %q %q, want FAILED \"Processing failed: late\" PROCESSING_ERROR", j.Outcome, j.Error, j.ErrorCode)
	}
}
