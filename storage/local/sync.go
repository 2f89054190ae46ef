package local

import (
	"sync"
	"sync/atomic"
)

// syncGroup makes finished Puts durable the way databases commit their logs:
// one flush of the store's file system covers every Put that finished
// writing before the flush started, so concurrent Puts share one flush
// instead of each paying two (its file's and its directory's fsync). On this
// project's benchmark machine that took the upload path from about 800 to
// over 1,000 uploads/s (docs/performance.md).
type syncGroup struct {
	flush     func() error  // flushes the store's file system
	requested atomic.Uint64 // tickets handed out, one per sync call

	mu   sync.Mutex // held while a flush runs
	done uint64     // every ticket up to done was covered by a flush...
	err  error      // ...which returned err
}

// sync returns once everything written before the call is durable.
func (g *syncGroup) sync() error {
	ticket := g.requested.Add(1)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done >= ticket {
		return g.err // a flush that started after this call has finished
	}
	covered := g.requested.Load() // every ticket taken before the flush starts
	g.err = g.flush()
	g.done = covered
	return g.err
}
