package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// ErrTokenUsed is UseTokens' answer when a token already created a job.
var ErrTokenUsed = errors.New("store: upload token already used")

// UseTokens records, inside the jobs' transaction, the upload tokens that
// created them (a job's TokenID and TokenExpires). A token id recorded
// before, by a committed job or earlier in the same statement, makes it
// fail with ErrTokenUsed: the transaction must roll back. Jobs without a
// token are skipped.
func (s *Store) UseTokens(ctx context.Context, tx *sql.Tx, jobs []Job) error {
	var b strings.Builder
	b.WriteString(`INSERT INTO ximage_upload_tokens (id, job_id, used_at, expires_at) VALUES `)
	args := make([]any, 0, 4*len(jobs))
	now := millis(time.Now())
	n := 0
	for _, j := range jobs {
		if j.TokenID == "" {
			continue
		}
		if n > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?)")
		args = append(args, j.TokenID, j.ID, now, millis(j.TokenExpires))
		n++
	}
	if n == 0 {
		return nil
	}
	// DO NOTHING rather than a unique violation: the count tells, with no
	// engine's error codes to parse.
	b.WriteString(` ON CONFLICT (id) DO NOTHING`)
	res, err := tx.ExecContext(ctx, s.q(b.String()), args...)
	if err != nil {
		return err
	}
	inserted, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if inserted < int64(n) {
		return ErrTokenUsed
	}
	return nil
}

// TokenJob returns the job an upload token created; ErrNotFound when it
// created none (yet).
func (s *Store) TokenJob(ctx context.Context, tokenID string) (string, error) {
	var jobID string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT job_id FROM ximage_upload_tokens WHERE id = ?`), tokenID).Scan(&jobID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return jobID, err
}

// PruneTokens removes the rows of upload tokens that expired before the
// given time, and says how many: once a token is refused as expired, its
// row can no longer stop a second use.
func (s *Store) PruneTokens(ctx context.Context, expiredBefore time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM ximage_upload_tokens WHERE expires_at < ?`), millis(expiredBefore))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
