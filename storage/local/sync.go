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
	last *flushed   // the latest flush that finished
}

// flushed is the outcome of one flush: it covered every ticket up to upTo.
type flushed struct {
	upTo uint64
	err  error
}

// sync returns once everything written before the call is durable, with
// the error of the flush that covered it.
func (g *syncGroup) sync() error {
	ticket := g.requested.Add(1)
	g.mu.Lock()
	defer g.mu.Unlock()
	// Only the latest flush can have started after this call: an older one
	// never covers it. A flush that failed is not taken as covering it.
	if l := g.last; l != nil && l.upTo >= ticket && l.err == nil {
		return nil
	}
	f := &flushed{upTo: g.requested.Load()} // every ticket taken before the flush starts
	f.err = g.flush()
	g.last = f
	return f.err
}
