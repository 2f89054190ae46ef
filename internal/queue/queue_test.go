package queue

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/ximagepipeline/ximagepipeline/failure"
	"github.com/ximagepipeline/ximagepipeline/internal/store"
)

// TestBackoff: each retry waits twice the one before, from the base, plus
// up to a quarter of jitter, and never more than ten minutes and a quarter.
func TestBackoff(t *testing.T) {
	t.Parallel()
	b := backoff{base: 2 * time.Second}
	for attempt, want := range map[int]time.Duration{
		1: 2 * time.Second, 2: 4 * time.Second, 3: 8 * time.Second, 9: 512 * time.Second,
		10: 10 * time.Minute, 40: 10 * time.Minute,
	} {
		for range 50 {
			before := time.Now()
			d := b.NextRetry(&rivertype.JobRow{Attempt: attempt}).Sub(before)
			if d < want-time.Second || d > want+want/4+time.Second {
				t.Fatalf("attempt %d: retry in %v, want %v to %v", attempt, d, want, want+want/4)
			}
		}
	}
}

// TestVerdict: what River is told of a handler's error.
func TestVerdict(t *testing.T) {
	t.Parallel()
	live := context.Background()
	stopped, stop := context.WithCancel(context.Background())
	stop()
	passing := errors.New("database unavailable")
	var snooze *river.JobSnoozeError
	var cancel *river.JobCancelError
	if err := verdict(live, nil); err != nil {
		t.Errorf("nil: %v", err)
	}
	if err := verdict(live, passing); err != passing {
		t.Errorf("a passing error: %v, want it returned (retried)", err)
	}
	if err := verdict(live, failure.ErrStorage.With("", passing)); !errors.Is(err, passing) || errors.As(err, &cancel) {
		t.Errorf("a retryable failure: %v, want it retried", err)
	}
	if err := verdict(live, failure.Undecodable("bad", nil)); !errors.As(err, &cancel) {
		t.Errorf("a permanent failure: %v, want a cancel", err)
	}
	if err := verdict(stopped, failure.Undecodable("bad", nil)); !errors.As(err, &snooze) {
		t.Errorf("an error of a stopping process: %v, want a snooze (handed back)", err)
	}
}

// TestStatusAndEntries drives a queue entry through River's states and
// checks what Status and Entries say of each, on SQLite.
func TestStatusAndEntries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, "", filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := Migrate(ctx, st.DB(), nil); err != nil {
		t.Fatal(err)
	}
	q, err := New(Config{DB: st.DB(), MaxAttempts: 3, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	if err := st.InTx(ctx, func(tx *sql.Tx) error {
		ids, err = q.EnqueueTx(ctx, tx, []string{"job_a", "job_b"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	entries, err := Entries(ctx, st.DB(), KindProcess)
	if err != nil || len(entries) != 2 {
		t.Fatalf("Entries: %v, %v; want two", entries, err)
	}
	for i, e := range entries {
		if e.ID != ids[i] || e.JobID != []string{"job_a", "job_b"}[i] || e.State != "available" || e.Kind != KindProcess {
			t.Errorf("entry %d: %+v, want id %d for %s, available", i, e, ids[i], []string{"job_a", "job_b"}[i])
		}
	}
	if webhooks, _ := Entries(ctx, st.DB(), KindWebhook); len(webhooks) != 0 {
		t.Errorf("webhook entries %v, want none", webhooks)
	}

	set := func(state string, errs string) {
		t.Helper()
		// River requires finalized_at on the final states, and only there.
		_, err := st.DB().ExecContext(ctx, `UPDATE river_job SET state = ?1, errors = `+errs+`,
			finalized_at = CASE WHEN ?1 IN ('completed', 'cancelled', 'discarded') THEN strftime('%Y-%m-%d %H:%M:%f', 'now') END
			WHERE id = ?2`, state, ids[0])
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		state, errs string
		want        State
		lastError   string
	}{
		{"available", "NULL", Waiting, ""},
		{"scheduled", "NULL", Waiting, ""},
		{"retryable", `json_array(json_object('at', '2026-01-01T00:00:00Z', 'attempt', 1, 'error', 'first'))`, Waiting, "first"},
		{"running", "NULL", Running, ""},
		{"completed", "NULL", Finished, ""},
		{"cancelled", "NULL", Failed, ""},
		{"discarded", `json_array(json_object('at', '2026-01-01T00:00:00Z', 'attempt', 1, 'error', 'first'), json_object('at', '2026-01-01T00:00:01Z', 'attempt', 2, 'error', 'last'))`, Failed, "last"},
	} {
		set(c.state, c.errs)
		s, err := q.Status(ctx, ids[0])
		if err != nil || s.State != c.want || s.LastError != c.lastError {
			t.Errorf("River %s: %+v, %v; want %s with last error %q", c.state, s, err, c.want, c.lastError)
		}
	}
	if _, err := st.DB().ExecContext(ctx, `DELETE FROM river_job WHERE id = ?`, ids[0]); err != nil {
		t.Fatal(err)
	}
	if s, err := q.Status(ctx, ids[0]); err != nil || s.State != Missing {
		t.Errorf("deleted entry: %+v, %v; want missing", s, err)
	}
	if n, err := q.Depth(ctx); err != nil || n != 1 {
		t.Errorf("Depth: %d, %v; want 1 (job_b)", n, err)
	}
}
