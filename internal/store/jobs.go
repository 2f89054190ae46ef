package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Outcomes are the final states a job records. A job without an outcome is
// still in the queue's hands: its state there is the source of truth.
const (
	Complete = "COMPLETE"
	Rejected = "REJECTED"
	Failed   = "FAILED"
)

// Job is one upload's record.
type Job struct {
	ID         string
	QueueJobID int64 // the queue engine's id for the job
	SourceType string
	SourceID   string
	StagedKey  string
	Outcome    string // "" while queued or running
	MediaID    string // set when COMPLETE, cleared when the media is deleted
	Error      string // FAILED: what went wrong, safe to show
	ErrorCode  string // FAILED: its machine code (package failure)
	Attempts   int
	Moderation []byte // REJECTED: the moderation details, JSON
	CreatedAt  time.Time
	FinishedAt time.Time
	// TokenID and TokenExpires are the upload token that created the job,
	// if any: written by UseTokens at creation, never read back.
	TokenID      string
	TokenExpires time.Time
}

// InsertJobs records new jobs inside the uploads' transaction, in one
// statement: uploads arriving together are committed together.
func (s *Store) InsertJobs(ctx context.Context, tx *sql.Tx, jobs []Job) error {
	if len(jobs) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO ximage_jobs (id, queue_job_id, source_type, source_id, staged_key, created_at) VALUES `)
	args := make([]any, 0, 6*len(jobs))
	for i, j := range jobs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?)")
		args = append(args, j.ID, j.QueueJobID, j.SourceType, j.SourceID, j.StagedKey, millis(j.CreatedAt))
	}
	_, err := tx.ExecContext(ctx, s.q(b.String()), args...)
	return err
}

const jobColumns = `id, queue_job_id, source_type, source_id, staged_key, outcome, media_id, error, error_code, attempts, moderation, created_at, finished_at`

func scanJob(row interface{ Scan(...any) error }) (Job, error) {
	var (
		j                Job
		outcome, mediaID sql.NullString
		moderation       sql.NullString
		created          int64
		finished         sql.NullInt64
	)
	err := row.Scan(&j.ID, &j.QueueJobID, &j.SourceType, &j.SourceID, &j.StagedKey, &outcome, &mediaID,
		&j.Error, &j.ErrorCode, &j.Attempts, &moderation, &created, &finished)
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, ErrNotFound
	}
	if err != nil {
		return Job{}, err
	}
	j.Outcome, j.MediaID = outcome.String, mediaID.String
	if moderation.Valid {
		j.Moderation = []byte(moderation.String)
	}
	j.CreatedAt = fromMillis(created)
	if finished.Valid {
		j.FinishedAt = fromMillis(finished.Int64)
	}
	return j, nil
}

// Job returns a job by id, or ErrNotFound.
func (s *Store) Job(ctx context.Context, id string) (Job, error) {
	return scanJob(s.db.QueryRowContext(ctx, s.q(`SELECT `+jobColumns+` FROM ximage_jobs WHERE id = ?`), id))
}

// Recorded is called inside the transaction that records a job's outcome,
// and only when that call records it (not when the job already had one):
// what it writes commits or rolls back with the outcome, and an error from
// it rolls the outcome back. nil: nothing to add.
type Recorded func(tx *sql.Tx) error

// FinishJob records a REJECTED or FAILED outcome, unless the job already
// has one (a job finishes once, whoever gets there first).
func (s *Store) FinishJob(ctx context.Context, j Job, recorded Recorded) error {
	var moderation any
	if j.Moderation != nil {
		moderation = string(j.Moderation)
	}
	return s.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE ximage_jobs SET outcome = ?, error = ?, error_code = ?, attempts = ?, moderation = ?, finished_at = ?
			WHERE id = ? AND outcome IS NULL`),
			j.Outcome, j.Error, j.ErrorCode, j.Attempts, moderation, millis(time.Now()), j.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 || recorded == nil {
			return err // already finished, or nothing more to write
		}
		return recorded(tx)
	})
}

// CompleteJob records the media and marks its job COMPLETE in one
// transaction. It is idempotent: a job completed twice (a rescued worker
// finishing late) keeps its first media row.
func (s *Store) CompleteJob(ctx context.Context, jobID string, attempts int, m Media, recorded Recorded) error {
	doc, err := json.Marshal(m.Facts)
	if err != nil {
		return err
	}
	var review any // NULL when not moderated
	if m.Moderation != nil {
		b, err := json.Marshal(m.Moderation)
		if err != nil {
			return err
		}
		review = string(b)
	}
	return s.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE ximage_jobs SET outcome = ?, media_id = ?, attempts = ?, finished_at = ?
			WHERE id = ? AND outcome IS NULL`), Complete, m.ID, attempts, millis(time.Now()), jobID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // already finished: nothing more to record
		}
		var hash any // NULL for a flat image
		if m.PHash != 0 {
			hash = int64(m.PHash) // the same 64 bits, as the signed integer both engines keep
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO ximage_media (id, job_id, source_type, source_id, doc, moderation, phash, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`), m.ID, jobID, m.SourceType, m.SourceID, string(doc), review, hash, millis(m.CreatedAt))
		if err != nil || recorded == nil {
			return err
		}
		return recorded(tx)
	})
}

// UnfinishedJobs lists jobs without an outcome created before the given time.
func (s *Store) UnfinishedJobs(ctx context.Context, before time.Time, limit int) ([]Job, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+jobColumns+` FROM ximage_jobs
		WHERE outcome IS NULL AND created_at < ? ORDER BY created_at LIMIT ?`), millis(before), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var jobs []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, rows.Err()
}
