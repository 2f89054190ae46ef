package ximagepipeline

import (
	"context"
	"errors"
	"sync"
	"time"
)

// recheckInterval bounds how late a waiter learns of a job finished by a
// worker in another process, which cannot wake it directly.
const recheckInterval = time.Second

// waiters wakes the requests waiting on a job when a worker of this
// process finishes it.
type waiters struct {
	mu sync.Mutex
	m  map[string][]chan struct{}

	endOnce sync.Once
	ended   chan struct{} // closed by end: nobody waits any more
}

// end makes every wait answer now, and later ones not wait.
func (w *waiters) end() {
	w.endOnce.Do(func() { close(w.done()) })
}

// done is closed once the waits have ended.
func (w *waiters) done() chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended == nil {
		w.ended = make(chan struct{})
	}
	return w.ended
}

func (w *waiters) add(jobID string) chan struct{} {
	ch := make(chan struct{})
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string][]chan struct{}{}
	}
	w.m[jobID] = append(w.m[jobID], ch)
	return ch
}

func (w *waiters) remove(jobID string, ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := w.m[jobID]
	for i, c := range list {
		if c == ch {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(w.m, jobID)
	} else {
		w.m[jobID] = list
	}
}

// wake tells every waiter of the job that it moved on.
func (w *waiters) wake(jobID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.m[jobID] {
		close(ch)
	}
	delete(w.m, jobID)
}

// Final reports whether a status is an end state.
func (s JobStatus) Final() bool {
	return s == StatusComplete || s == StatusRejected || s == StatusFailed
}

// WaitStatus is GetStatus that, for a job still PENDING or PROCESSING,
// waits up to d for it to change, then answers its status then. When ctx
// ends first it returns the status so far with ctx's error; after EndWaits
// it returns the status so far at once.
func (p *Pipeline) WaitStatus(ctx context.Context, jobID string, d time.Duration) (*Job, error) {
	job, err := p.waitChange(ctx, jobID, "", d)
	if errors.Is(err, errWaitsEnded) {
		err = nil
	}
	return job, err
}

// EndWaits makes every request waiting for a job (a status with ?wait, an
// event stream, WaitStatus) answer now with the status so far, and later
// ones answer without waiting (a caller looping on WaitStatus until the job
// is final must stop looping once it stops the server); it also stops
// reading the rest of refused uploads. A server calls it as it starts to
// shut down (http.Server.RegisterOnShutdown), so that nothing but uploads
// in flight holds up the stop; Close calls it too.
func (p *Pipeline) EndWaits() { p.waiters.end() }

// errWaitsEnded is waitChange's answer after EndWaits.
var errWaitsEnded = errors.New("the server is stopping")

// waitChange answers as soon as the job's status differs from last (any
// status when last is empty and the job is final), or when d is over.
func (p *Pipeline) waitChange(ctx context.Context, jobID string, last JobStatus, d time.Duration) (*Job, error) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	ended := p.waiters.done()
	for {
		ch := p.waiters.add(jobID)
		job, err := p.GetStatus(ctx, jobID)
		if err != nil || job.Status.Final() || (last != "" && job.Status != last) {
			p.waiters.remove(jobID, ch)
			return job, err
		}
		recheck := time.NewTimer(recheckInterval)
		select {
		case <-ch:
		case <-recheck.C:
		case <-deadline.C:
			recheck.Stop()
			p.waiters.remove(jobID, ch)
			return job, nil
		case <-ctx.Done():
			recheck.Stop()
			p.waiters.remove(jobID, ch)
			return job, ctx.Err() // the status so far
		case <-ended:
			recheck.Stop()
			p.waiters.remove(jobID, ch)
			return job, errWaitsEnded
		}
		recheck.Stop()
		p.waiters.remove(jobID, ch)
	}
}
