// Package queue is the job lifecycle on top of River: enqueueing an upload's
// job inside its transaction, running workers with retries and backoff,
// rescuing jobs whose worker died, and a periodic cleanup. Nothing outside
// this package knows River is underneath.
package queue

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/ximagepipeline/ximagepipeline/failure"
	"github.com/ximagepipeline/ximagepipeline/webhook"
)

// Handler does the work the queue schedules.
type Handler interface {
	// Process works on one job. attempt counts from 1. A returned error is
	// tried again after a backoff, up to maxAttempts, unless it is a
	// failure.Error that is not Retryable: then the job ends at once. An
	// error returned once ctx is cancelled (the process stopping) hands the
	// job back to the queue without counting the attempt.
	Process(ctx context.Context, jobID string, attempt, maxAttempts int) error
	// Cleanup removes what finished or abandoned jobs left behind.
	Cleanup(ctx context.Context) error
}

// Config sets up the queue.
type Config struct {
	DB   *sql.DB       // the database of the job records
	Pool *pgxpool.Pool // PostgreSQL only: workers LISTEN for new jobs on it

	Work            bool // run workers in this process
	Concurrency     int
	MaxAttempts     int
	RetryBackoff    time.Duration
	PollInterval    time.Duration // idle workers' fetch interval besides wake-ups
	JobTimeout      time.Duration
	RescueAfter     time.Duration
	CleanupInterval time.Duration
	Logger          *slog.Logger
	// WebhookMaxAttempts bounds the tries of one webhook delivery.
	WebhookMaxAttempts int
	// Webhooks sends the webhook jobs (EnqueueWebhooksTx); an error retries
	// the delivery with the same backoff, up to WebhookMaxAttempts. nil:
	// webhook jobs are left to workers that have it.
	Webhooks interface {
		Send(ctx context.Context, d webhook.Delivery) error
	}
}

// Webhook deliveries run in a River queue of their own with their own
// worker slots, so that slow or hanging receivers never hold a slot of
// image processing (whose queue is River's default one).
const (
	WebhookQueue = "webhooks"
	// WebhookWorkers is how many deliveries are sent at once, per process.
	WebhookWorkers = 10
)

// State is a job's state as the queue sees it.
type State string

const (
	Waiting  State = "waiting"  // queued, or waiting for a retry
	Running  State = "running"  // a worker has it
	Finished State = "finished" // completed successfully
	Failed   State = "failed"   // discarded or cancelled: no more attempts
	Missing  State = "missing"  // unknown to the queue (deleted after retention)
)

// Status is what the queue knows of one job.
type Status struct {
	State     State
	Attempt   int
	LastError string
}

// ProcessArgs are the arguments of an image job.
type ProcessArgs struct {
	JobID string `json:"jobId"`
}

func (ProcessArgs) Kind() string { return KindProcess }

// WebhookArgs are the arguments of a webhook delivery job: one event of a
// job to one URL.
type WebhookArgs struct {
	DeliveryID string `json:"deliveryId"` // the same on each retry
	JobID      string `json:"jobId"`
	Event      string `json:"event"`
	URL        string `json:"url"`
}

func (WebhookArgs) Kind() string { return KindWebhook }

type cleanupArgs struct{}

func (cleanupArgs) Kind() string { return "ximagepipeline.cleanup" }

// client is what the queue needs of a River client, whatever its driver.
type client interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	JobGet(ctx context.Context, id int64) (*rivertype.JobRow, error)
}

// Queue enqueues jobs and, when configured to, works them.
type Queue struct {
	inserter *river.Client[*sql.Tx] // inserts inside the store's transactions
	runner   client                 // works jobs; nil when Work is false
	reader   client                 // looks jobs up
	maxTries int
	db       *sql.DB

	webhookMaxAttempts int
}

// Migrate applies River's own migrations.
func Migrate(ctx context.Context, db *sql.DB, pool *pgxpool.Pool) error {
	var err error
	if pool != nil {
		err = migrate(ctx, riverpgxv5.New(pool))
	} else {
		err = migrate(ctx, riversqlite.New(db))
	}
	if err != nil {
		return fmt.Errorf("queue: migrate: %w", err)
	}
	return nil
}

func migrate[TTx any](ctx context.Context, driver riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return err
	}
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}

// fetchCooldown is River's FetchCooldown: the least time between two
// fetches of a worker, and between two insert notifications for a queue.
// River's default, 100 ms, skips the notification of a job inserted within
// 100 ms of the one before: an upload every 100 ms or so (one avatar after
// another) had a third of its jobs found only by the next poll, a second
// later (202 -> COMPLETE 700-1000 ms instead of 90). At 10 ms a worker
// still fetches at most 100 times a second.
const fetchCooldown = 10 * time.Millisecond

// New builds the queue. With Work set, Start runs cfg.Concurrency workers
// calling h.
func New(cfg Config, h Handler) (*Queue, error) {
	q := &Queue{maxTries: cfg.MaxAttempts, db: cfg.DB, webhookMaxAttempts: max(1, cfg.WebhookMaxAttempts)}
	rc := &river.Config{
		Logger:               cfg.Logger,
		MaxAttempts:          cfg.MaxAttempts,
		FetchPollInterval:    cfg.PollInterval,
		FetchCooldown:        min(fetchCooldown, cfg.PollInterval),
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		RetryPolicy:          backoff{base: cfg.RetryBackoff},
		// Finished jobs keep their outcome in our own table, so River's
		// rows can go after the default retention.
	}
	if cfg.Work {
		workers := river.NewWorkers()
		river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[ProcessArgs]) error {
			return verdict(ctx, h.Process(ctx, job.Args.JobID, job.Attempt, job.MaxAttempts))
		}))
		river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, _ *river.Job[cleanupArgs]) error {
			return h.Cleanup(ctx)
		}))
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Concurrency}}
		if cfg.Webhooks != nil {
			river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[WebhookArgs]) error {
				a := job.Args
				return cfg.Webhooks.Send(ctx, webhook.Delivery{ID: a.DeliveryID, JobID: a.JobID, Event: a.Event, URL: a.URL})
			}))
			rc.Queues[WebhookQueue] = river.QueueConfig{MaxWorkers: WebhookWorkers}
		}
		rc.Workers = workers
		rc.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(
			river.PeriodicInterval(cfg.CleanupInterval),
			func() (river.JobArgs, *river.InsertOpts) { return cleanupArgs{}, &river.InsertOpts{MaxAttempts: 1} },
			&river.PeriodicJobOpts{RunOnStart: true},
		)}
	}

	insertConfig := *rc
	insertConfig.Workers, insertConfig.Queues, insertConfig.PeriodicJobs = nil, nil, nil
	var err error
	if cfg.Pool != nil {
		// PostgreSQL: the store's transactions are database/sql ones, so
		// inserts go through the database/sql driver; workers use pgx for
		// LISTEN/NOTIFY wake-ups.
		q.inserter, err = river.NewClient(riverdatabasesql.New(cfg.DB), &insertConfig)
		if err == nil && cfg.Work {
			q.runner, err = river.NewClient(riverpgxv5.New(cfg.Pool), rc)
		}
	} else {
		if cfg.Work {
			var c *river.Client[*sql.Tx]
			c, err = river.NewClient(riversqlite.New(cfg.DB), rc)
			q.inserter, q.runner = c, c
		} else {
			q.inserter, err = river.NewClient(riversqlite.New(cfg.DB), &insertConfig)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	q.reader = q.inserter
	return q, nil
}

// EnqueueTx queues the processing of each of jobIDs inside tx, in one
// statement: the jobs exist only if tx commits. It returns the queue's ids,
// in the order of jobIDs.
func (q *Queue) EnqueueTx(ctx context.Context, tx *sql.Tx, jobIDs []string) ([]int64, error) {
	opts := &river.InsertOpts{MaxAttempts: q.maxTries}
	params := make([]river.InsertManyParams, len(jobIDs))
	for i, id := range jobIDs {
		params[i] = river.InsertManyParams{Args: ProcessArgs{JobID: id}, InsertOpts: opts}
	}
	res, err := q.inserter.InsertManyTx(ctx, tx, params)
	if err != nil {
		return nil, fmt.Errorf("queue: insert: %w", err)
	}
	// Neither SQLite nor PostgreSQL promises RETURNING rows in the order
	// inserted: match them by the job id in their arguments.
	byJob := make(map[string]int64, len(res))
	for _, r := range res {
		var args ProcessArgs
		if err := json.Unmarshal(r.Job.EncodedArgs, &args); err != nil {
			return nil, fmt.Errorf("queue: insert: %w", err)
		}
		byJob[args.JobID] = r.Job.ID
	}
	ids := make([]int64, len(jobIDs))
	for i, id := range jobIDs {
		qid, ok := byJob[id]
		if !ok {
			return nil, fmt.Errorf("queue: insert: no queue entry came back for %s", id)
		}
		ids[i] = qid
	}
	return ids, nil
}

// EnqueueWebhooksTx queues one delivery of event for jobID to each of urls
// inside tx, the transaction that records the job's outcome: the
// deliveries exist only if the outcome commits.
func (q *Queue) EnqueueWebhooksTx(ctx context.Context, tx *sql.Tx, jobID, event string, urls []string) error {
	if len(urls) == 0 {
		return nil
	}
	opts := &river.InsertOpts{Queue: WebhookQueue, MaxAttempts: q.webhookMaxAttempts}
	params := make([]river.InsertManyParams, 0, len(urls))
	for _, u := range urls {
		args := WebhookArgs{DeliveryID: "dlv_" + strings.ToLower(rand.Text()), JobID: jobID, Event: event, URL: u}
		params = append(params, river.InsertManyParams{Args: args, InsertOpts: opts})
	}
	if _, err := q.inserter.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("queue: insert webhooks: %w", err)
	}
	return nil
}

// Status returns what the queue knows of a job.
func (q *Queue) Status(ctx context.Context, queueJobID int64) (Status, error) {
	row, err := q.reader.JobGet(ctx, queueJobID)
	if errors.Is(err, rivertype.ErrNotFound) {
		return Status{State: Missing}, nil
	}
	if err != nil {
		return Status{}, fmt.Errorf("queue: %w", err)
	}
	s := Status{Attempt: row.Attempt}
	if n := len(row.Errors); n > 0 {
		s.LastError = row.Errors[n-1].Error
	}
	switch row.State {
	case rivertype.JobStateRunning:
		s.State = Running
	case rivertype.JobStateCompleted:
		s.State = Finished
	case rivertype.JobStateDiscarded, rivertype.JobStateCancelled:
		s.State = Failed
	default: // available, scheduled, retryable, pending
		s.State = Waiting
	}
	return s, nil
}

// Depth counts the image jobs waiting to be worked: queued, scheduled or
// waiting for a retry (webhook deliveries have their own queue and are not
// counted).
func (q *Queue) Depth(ctx context.Context) (int, error) {
	var n int
	err := q.db.QueryRowContext(ctx,
		`SELECT count(*) FROM river_job WHERE queue = 'default' AND state IN ('available', 'scheduled', 'retryable', 'pending')`).Scan(&n)
	return n, err
}

// Start starts the workers, if any.
func (q *Queue) Start(ctx context.Context) error {
	if q.runner == nil {
		return nil
	}
	return q.runner.Start(ctx)
}

// Stop lets running jobs finish until ctx ends, then cancels them; a
// cancelled job goes back to the queue for another attempt.
func (q *Queue) Stop(ctx context.Context) error {
	if q.runner == nil {
		return nil
	}
	err := q.runner.Stop(ctx)
	if ctx.Err() != nil {
		cancelCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = q.runner.StopAndCancel(cancelCtx)
	}
	return err
}

// verdict tells River what a handler's error means: a stop's interruption
// goes back to the queue without counting (a snooze), a failure retrying
// cannot fix ends the job (a cancel), anything else is retried.
func verdict(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.Canceled):
		return river.JobSnooze(0)
	case failure.Permanent(err):
		return river.JobCancel(err)
	}
	return err
}

// backoff doubles the delay each attempt, with jitter so that a fleet of
// failed jobs does not retry in lockstep, capped at ten minutes.
type backoff struct{ base time.Duration }

func (b backoff) NextRetry(job *rivertype.JobRow) time.Time {
	d := b.base << min(max(job.Attempt-1, 0), 20)
	d = min(d, 10*time.Minute)
	d += time.Duration(mathrand.Int64N(int64(d)/4 + 1))
	return time.Now().Add(d)
}

// Kinds of queue entries.
const (
	KindProcess = "ximagepipeline.process" // ProcessArgs
	KindWebhook = "ximagepipeline.webhook" // WebhookArgs
)

// Entry is one queue entry as tests and diagnostics see it.
type Entry struct {
	ID      int64  // the queue's id (store.Job.QueueJobID)
	Kind    string // KindProcess, KindWebhook, or the cleanup's
	JobID   string // the pipeline job it works for; "" for the cleanup
	State   string // River's: available, scheduled, running, retryable, completed, cancelled, discarded
	Attempt int
}

// Entries lists the queue's entries of kind ("" for all), oldest first,
// through db, a handle on the pipeline's database (SQLite or PostgreSQL).
// It is the one reader of the queue's tables outside the queue's own
// client: tests use it instead of querying them.
func Entries(ctx context.Context, db *sql.DB, kind string) ([]Entry, error) {
	// River keeps the arguments as SQLite's binary JSONB there, as jsonb on
	// PostgreSQL: each engine turns its own into text.
	args := "args::text"
	if strings.Contains(fmt.Sprintf("%T", db.Driver()), "sqlite") {
		args = "json(args)"
	}
	rows, err := db.QueryContext(ctx, `SELECT id, kind, `+args+`, state, attempt FROM river_job ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("queue: entries: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var (
			e    Entry
			args []byte
		)
		if err := rows.Scan(&e.ID, &e.Kind, &args, &e.State, &e.Attempt); err != nil {
			return nil, fmt.Errorf("queue: entries: %w", err)
		}
		if kind != "" && e.Kind != kind {
			continue
		}
		var a struct {
			JobID string `json:"jobId"`
		}
		_ = json.Unmarshal(args, &a) // the cleanup's arguments have no job
		e.JobID = a.JobID
		out = append(out, e)
	}
	return out, rows.Err()
}
