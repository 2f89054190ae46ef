package ximagepipeline

import (
	"context"
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
// ends first it returns the status so far with ctx's error.
func (p *Pipeline) WaitStatus(ctx context.Context, jobID string, d time.Duration) (*Job, error) {
	return p.waitChange(ctx, jobID, "", d)
}

// waitChange answers as soon as the job's status differs from last (any
// status when last is empty and the job is final), or when d is over.
func (p *Pipeline) waitChange(ctx context.Context, jobID string, last JobStatus, d time.Duration) (*Job, error) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
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
			return job, ctx.Err() // the status so far, for a server that is stopping
		}
		recheck.Stop()
		p.waiters.remove(jobID, ch)
	}
}
