package local

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// Concurrent syncs share flushes, and none returns before a flush that
// started after it was called has finished.
func TestSyncGroupSharesFlushes(t *testing.T) {
	const callers = 100
	var (
		g        syncGroup
		flushes  atomic.Int32
		finished atomic.Int32 // flushes finished so far
		release  = make(chan struct{})
	)
	g.flush = func() error {
		if flushes.Add(1) == 1 {
			<-release // hold the first flush until every caller has asked
		}
		finished.Add(1)
		return nil
	}
	var wg sync.WaitGroup
	first := make(chan struct{})
	wg.Go(func() {
		close(first)
		if err := g.sync(); err != nil {
			t.Error(err)
		}
	})
	<-first
	for flushes.Load() == 0 {
		runtime.Gosched()
	}
	// The first flush is running; everyone else now asks and must wait for a
	// second flush, since the first started before they asked.
	seen := make(chan int32, callers)
	for range callers - 1 {
		wg.Go(func() {
			if err := g.sync(); err != nil {
				t.Error(err)
			}
			seen <- finished.Load()
		})
	}
	for g.requested.Load() < callers {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	close(seen)
	for n := range seen {
		if n < 2 {
			t.Fatalf("a sync returned after %d flushes; it asked after the first had started", n)
		}
	}
	if n := flushes.Load(); n != 2 {
		t.Fatalf("%d callers made %d flushes, want 2 (the first, then one for all who waited)", callers, n)
	}
}

// A failed flush fails its caller, and never counts as covering a later
// one: the next caller flushes anew. (A write error itself is reported to
// the Put of that file by the check of its own file (flushedErr).)
func TestSyncGroupReportsFlushErrors(t *testing.T) {
	broken := errors.New("disk gone")
	var g syncGroup
	g.flush = func() error { return broken }
	if err := g.sync(); !errors.Is(err, broken) {
		t.Fatalf("sync = %v, want %v", err, broken)
	}
	flushes := 0
	g.flush = func() error { flushes++; return nil }
	if err := g.sync(); err != nil || flushes != 1 {
		t.Fatalf("sync after a failure = %v after %d flushes, want nil after 1", err, flushes)
	}
}
