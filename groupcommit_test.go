package ximagepipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ximagepipeline/ximagepipeline/internal/store"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// Uploads that arrive while a batch commits go in the next batch together,
// and a batch that fails is retried job by job, so one bad job refuses only
// itself.
func TestGroupCommit(t *testing.T) {
	const uploads = 50
	var (
		mu      sync.Mutex
		batches [][]string
		release = make(chan struct{})
	)
	bad := errors.New("constraint failed")
	g := groupCommit{insert: func(_ context.Context, jobs []store.Job) error {
		ids := make([]string, len(jobs))
		for i, j := range jobs {
			ids[i] = j.ID
		}
		mu.Lock()
		batches = append(batches, ids)
		first := len(batches) == 1
		mu.Unlock()
		if first {
			<-release // hold the first commit until every other upload waits
		}
		if slices.Contains(ids, "job_bad") {
			return bad
		}
		return nil
	}}

	errs := make(map[string]error)
	var emu sync.Mutex
	var wg sync.WaitGroup
	commit := func(id string) {
		err := g.commit(t.Context(), store.Job{ID: id})
		emu.Lock()
		errs[id] = err
		emu.Unlock()
	}
	wg.Go(func() { commit("job_first") })
	for {
		mu.Lock()
		n := len(batches)
		mu.Unlock()
		if n == 1 {
			break
		}
		runtime.Gosched()
	}
	for i := range uploads - 1 {
		id := fmt.Sprintf("job_%02d", i)
		if i == 7 {
			id = "job_bad"
		}
		wg.Go(func() { commit(id) })
	}
	for {
		g.mu.Lock()
		n := len(g.pending)
		g.mu.Unlock()
		if n == uploads-1 {
			break
		}
		runtime.Gosched()
	}
	close(release)
	wg.Wait()

	for id, err := range errs {
		if id == "job_bad" {
			if !errors.Is(err, bad) {
				t.Errorf("the bad job got %v, want %v", err, bad)
			}
		} else if err != nil {
			t.Errorf("%s got %v; only the bad job may fail", id, err)
		}
	}
	if len(errs) != uploads {
		t.Fatalf("%d of %d uploads returned", len(errs), uploads)
	}
	// The first alone, then the 49 waiting ones together (failing because
	// of the bad one), then each of those 49 alone.
	if len(batches) != 2+uploads-1 || len(batches[0]) != 1 || len(batches[1]) != uploads-1 {
		sizes := make([]int, len(batches))
		for i, b := range batches {
			sizes[i] = len(b)
		}
		t.Fatalf("batch sizes %v, want [1 %d] then %d single retries", sizes, uploads-1, uploads-1)
	}
}

// With more uploads waiting than one batch takes, the leader keeps
// committing batches until its own job is in one: nobody waits forever.
func TestGroupCommitMoreThanABatch(t *testing.T) {
	var batches []int
	g := groupCommit{insert: func(_ context.Context, jobs []store.Job) error {
		batches = append(batches, len(jobs))
		return nil
	}}
	// 300 uploads already wait (their callers queued behind the leader
	// lock); the leader's own job comes after them.
	waiting := make([]*pendingJob, 300)
	for i := range waiting {
		waiting[i] = &pendingJob{job: store.Job{ID: fmt.Sprintf("job_%d", i)}, done: make(chan error, 1)}
	}
	g.pending = waiting
	done := make(chan error, 1)
	go func() { done <- g.commit(t.Context(), store.Job{ID: "job_last"}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the leader never committed its own job: it was not in the first batch")
	}
	if !slices.Equal(batches, []int{maxBatch, 301 - maxBatch}) {
		t.Fatalf("batches of %v, want [%d %d]", batches, maxBatch, 301-maxBatch)
	}
	for i, w := range waiting {
		if err := <-w.done; err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
	}
}

// A token spent between an upload's early check and its commit (by an
// upload that got there first) is refused at the commit as TOKEN_USED,
// not QUEUE_ERROR, and the refused upload's staged file is removed.
func TestTokenSpentAtCommit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, err := New(t.Context(), Config{
		DataDir: dir, DisableWorkers: true, Logger: slog.New(slog.DiscardHandler),
		UploadTokenSecret: "test-secret-0123456789abcdefghij",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	tok, err := p.MintUploadToken(t.Context(), UploadTokenRequest{SourceType: "gallery", SourceID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.verifyToken(tok.Token, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	jpg := testimages.JPEG(testimages.Quadrants(60, 40), 90)
	upload := func() (string, error) {
		// admit itself, past the early check that would refuse the second.
		return p.admit(t.Context(), requestForm(UploadRequest{File: bytes.NewReader(jpg)}), g)
	}
	first, err := upload()
	if err != nil {
		t.Fatalf("first upload: %v", err)
	}
	_, err = upload()
	var e *Error
	if !errors.As(err, &e) || e.Code != "TOKEN_USED" || e.Status != 403 {
		t.Fatalf("second upload: %v, want 403 TOKEN_USED", err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "files", "staging"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != first {
		t.Errorf("staged %v, want only the first upload's %s", entries, first)
	}
}
