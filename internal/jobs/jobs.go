// Package jobs owns the life of a job on the record. It creates jobs (the
// job's row and its queue entry in one transaction), records their
// outcomes (with the outcome's webhooks in the same transaction, so that
// an outcome never loses its announcements and none announces an outcome
// that rolled back), and answers a job's status from one source of truth:
// the recorded outcome once there is one, the queue's state before it.
//
// Nothing else writes a job's row or talks to the queue: the root package
// creates jobs and reads their status through a Service, the worker
// records outcomes through it.
package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/ximagepipeline/ximagepipeline/failure"
	"github.com/ximagepipeline/ximagepipeline/internal/queue"
	"github.com/ximagepipeline/ximagepipeline/internal/store"
	"github.com/ximagepipeline/ximagepipeline/webhook"
)

// Status is a job's public state.
type Status string

const (
	Pending    Status = "PENDING"
	Processing Status = "PROCESSING"
	Complete   Status = store.Complete
	Rejected   Status = store.Rejected
	Failed     Status = store.Failed
)

// ErrNotFound is returned for a job id that has no record.
var ErrNotFound = store.ErrNotFound

// ErrTokenUsed is Create's answer when a job's upload token already
// created a job: nothing of the batch is recorded.
var ErrTokenUsed = store.ErrTokenUsed

// Config sets up a Service: the queue's settings (without its database,
// which is the store's) and where outcomes are announced.
type Config struct {
	Queue queue.Config
	// WebhookURLs receive each outcome's event. Default none.
	WebhookURLs []string
}

// Service creates jobs, records their outcomes and answers their status.
type Service struct {
	store       *store.Store
	queue       *queue.Queue
	webhookURLs []string
}

// Open applies the queue's migrations to st's database and builds the
// queue; with cfg.Queue.Work set, Start runs workers calling h.
func Open(ctx context.Context, st *store.Store, cfg Config, h queue.Handler) (*Service, error) {
	if err := st.WithMigrationLock(ctx, func() error { return queue.Migrate(ctx, st.DB(), st.Pool()) }); err != nil {
		return nil, err
	}
	qcfg := cfg.Queue
	qcfg.DB, qcfg.Pool = st.DB(), st.Pool()
	q, err := queue.New(qcfg, h)
	if err != nil {
		return nil, err
	}
	return &Service{store: st, queue: q, webhookURLs: cfg.WebhookURLs}, nil
}

// Start starts the workers, if any.
func (s *Service) Start(ctx context.Context) error { return s.queue.Start(ctx) }

// Stop lets running jobs finish until ctx ends, then hands them back to
// the queue.
func (s *Service) Stop(ctx context.Context) error { return s.queue.Stop(ctx) }

// Depth counts the jobs waiting for a worker.
func (s *Service) Depth(ctx context.Context) (int, error) { return s.queue.Depth(ctx) }

// Create records new jobs and queues them in one transaction: a job exists
// with its queue entry, and its upload token (if any) as used, or not at
// all. A token already used fails the whole batch with ErrTokenUsed.
func (s *Service) Create(ctx context.Context, jobs []store.Job) error {
	return s.store.InTx(ctx, func(tx *sql.Tx) error {
		// Tokens first: the cheapest refusal, before the queue's insert.
		if err := s.store.UseTokens(ctx, tx, jobs); err != nil {
			return err
		}
		ids := make([]string, len(jobs))
		for i, j := range jobs {
			ids[i] = j.ID
		}
		qids, err := s.queue.EnqueueTx(ctx, tx, ids)
		if err != nil {
			return err
		}
		for i := range jobs {
			jobs[i].QueueJobID = qids[i]
		}
		return s.store.InsertJobs(ctx, tx, jobs)
	})
}

// PruneTokens removes the records of upload tokens that expired before the
// given time (see store.PruneTokens).
func (s *Service) PruneTokens(ctx context.Context, expiredBefore time.Time) (int64, error) {
	return s.store.PruneTokens(ctx, expiredBefore)
}

// TokenJob returns the job an upload token created; ErrNotFound when it
// created none.
func (s *Service) TokenJob(ctx context.Context, tokenID string) (string, error) {
	return s.store.TokenJob(ctx, tokenID)
}

// Job returns a job's record; ErrNotFound when there is none.
func (s *Service) Job(ctx context.Context, id string) (store.Job, error) {
	return s.store.Job(ctx, id)
}

// View is a job's record with its public status. A FAILED job's Error and
// ErrorCode are set, also when no worker could record them (below).
type View struct {
	store.Job
	Status Status
}

// Get returns a job with its status: its outcome once recorded; before
// that, the queue's state of it. A job the queue gave up on without an
// outcome recorded (its worker died on the last attempt) is FAILED: the
// sweep records it so later (Reconcile), the status says so at once.
func (s *Service) Get(ctx context.Context, id string) (View, error) {
	j, err := s.store.Job(ctx, id)
	if err != nil {
		return View{}, err
	}
	if j.Outcome == "" {
		qs, err := s.queue.Status(ctx, j.QueueJobID)
		if err != nil {
			return View{}, err
		}
		switch qs.State {
		case queue.Waiting:
			return View{j, Pending}, nil
		case queue.Running:
			return View{j, Processing}, nil
		case queue.Finished:
			// The worker records the outcome before the queue marks the
			// entry done: read it again.
			if j, err = s.store.Job(ctx, id); err != nil {
				return View{}, err
			}
			if j.Outcome == "" {
				j = abandoned(j, queue.Status{Attempt: j.Attempts})
			}
		case queue.Failed, queue.Missing:
			// The worker may have recorded the outcome just before the
			// queue ended the entry: read it again before calling it
			// abandoned.
			if j, err = s.store.Job(ctx, id); err != nil {
				return View{}, err
			}
			if j.Outcome == "" {
				j = abandoned(j, qs)
			}
		}
	}
	if j.Outcome == store.Failed && j.ErrorCode == "" {
		// Recorded by a worker older than the codes (during a rolling
		// upgrade, after migration 3's backfill ran): the generic code.
		j.ErrorCode = failure.ErrProcessing.Code
	}
	return View{j, Status(j.Outcome)}, nil
}

// abandoned is j as FAILED after the queue gave up on it without an
// outcome (its last error is only in the queue and the logs).
func abandoned(j store.Job, qs queue.Status) store.Job {
	e := failure.Abandoned()
	j.Outcome, j.Attempts, j.Error, j.ErrorCode = store.Failed, qs.Attempt, e.Message, e.Code
	return j
}

// Complete records the media and marks its job COMPLETE, with the
// webhooks, in one transaction. A job completed twice (a rescued worker
// finishing late) keeps its first media.
func (s *Service) Complete(ctx context.Context, attempt int, m store.Media) error {
	return s.store.CompleteJob(ctx, m.JobID, attempt, m, s.announce(ctx, m.JobID, webhook.EventCompleted))
}

// Reject records a REJECTED outcome with moderation's details, unless the
// job already has an outcome; recorded says whether this call recorded it.
func (s *Service) Reject(ctx context.Context, job store.Job, attempt int, details []byte) (recorded bool, err error) {
	job.Outcome, job.Attempts, job.Moderation = store.Rejected, attempt, details
	return s.finish(ctx, job, webhook.EventRejected)
}

// Fail records a FAILED outcome with e's code and message, unless the job
// already has an outcome; recorded says whether this call recorded it.
func (s *Service) Fail(ctx context.Context, job store.Job, attempt int, e *failure.Error) (recorded bool, err error) {
	job.Outcome, job.Attempts, job.Error, job.ErrorCode = store.Failed, attempt, e.Message, e.Code
	return s.finish(ctx, job, webhook.EventFailed)
}

func (s *Service) finish(ctx context.Context, job store.Job, event string) (recorded bool, err error) {
	announce := s.announce(ctx, job.ID, event)
	err = s.store.FinishJob(ctx, job, func(tx *sql.Tx) error {
		recorded = true
		if announce != nil {
			return announce(tx)
		}
		return nil
	})
	return recorded && err == nil, err
}

// announce returns what runs in the transaction recording an outcome:
// queueing its webhooks. nil without URLs.
func (s *Service) announce(ctx context.Context, jobID, event string) store.Recorded {
	if len(s.webhookURLs) == 0 {
		return nil
	}
	return func(tx *sql.Tx) error {
		return s.queue.EnqueueWebhooksTx(ctx, tx, jobID, event, s.webhookURLs)
	}
}

// Reconcile brings a job's record in line with the queue: a job without an
// outcome that the queue gave up on is recorded FAILED. It reports whether
// the job is finished (now or before) and whether this call recorded it.
func (s *Service) Reconcile(ctx context.Context, job store.Job) (finished, recorded bool, err error) {
	if job.Outcome != "" {
		return true, false, nil
	}
	qs, err := s.queue.Status(ctx, job.QueueJobID)
	if err != nil {
		return false, false, err
	}
	if qs.State != queue.Failed && qs.State != queue.Missing {
		return false, false, nil // still queued or running
	}
	recorded, err = s.Fail(ctx, job, qs.Attempt, failure.Abandoned())
	if err != nil {
		return false, false, fmt.Errorf("record abandoned job %s: %w", job.ID, err)
	}
	return true, recorded, nil
}
