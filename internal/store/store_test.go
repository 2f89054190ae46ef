package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx", to make a database of an older schema
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers "sqlite"

	"github.com/ximagepipeline/ximagepipeline/internal/pgtest"
	"github.com/ximagepipeline/ximagepipeline/internal/store"
	"github.com/ximagepipeline/ximagepipeline/media"
	"github.com/ximagepipeline/ximagepipeline/moderation"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// engines are the databases every test of this file runs against: a SQLite
// file in a temp dir, and a fresh database on a throwaway PostgreSQL cluster.
var engines = []struct {
	name string
	url  func(t *testing.T) (url, defaultPath string)
}{
	{"sqlite", func(t *testing.T) (string, string) { return "", filepath.Join(t.TempDir(), "x.db") }},
	{"postgres", func(t *testing.T) (string, string) { return pgtest.Start(t), "" }},
}

// forEachEngine runs fn as a parallel subtest per engine, with an open,
// migrated store closed at the end.
func forEachEngine(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			url, path := e.url(t)
			s, err := store.Open(t.Context(), url, path)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			if want := store.Dialect(e.name); s.Dialect() != want {
				t.Fatalf("Dialect = %s, want %s", s.Dialect(), want)
			}
			fn(t, s)
		})
	}
}

// insertJob records a job the way an upload does, in a transaction.
func insertJob(t *testing.T, s *store.Store, id string, created time.Time) store.Job {
	t.Helper()
	j := store.Job{ID: id, QueueJobID: 42, SourceType: "gallery", SourceID: "user-1", StagedKey: "staging/" + id, CreatedAt: created}
	err := s.InTx(t.Context(), func(tx *sql.Tx) error { return s.InsertJobs(t.Context(), tx, []store.Job{j}) })
	if err != nil {
		t.Fatalf("insert %s: %v", id, err)
	}
	return j
}

func newMedia(jobID string, created time.Time) store.Media {
	return store.Media{
		ID: "med_" + jobID, JobID: jobID, SourceType: "gallery", SourceID: "user-1", CreatedAt: created,
		Facts: store.MediaFacts{
			Width: 300, Height: 200, AspectRatio: "3:2", BlurHash: "LKO2?U%2Tw=w]~RBVZRi};RPxuwH", Format: "jpeg",
			FocalPoint: media.Point{X: 0.25, Y: 0.75},
			Variants: []store.VariantFacts{
				{Name: "md", Format: "webp", Key: "media/gallery/user-1/med_" + jobID + "/md.webp", Width: 300, Height: 200, Bytes: 1234},
			},
			OriginalKey: "originals/gallery/user-1/med_" + jobID + "/original.jpg",
			Source:      media.SourceFacts{Format: "jpeg", Bytes: 99, Width: 200, Height: 300, Orientation: 6, Frames: 1, ColorSpace: "srgb"},
		},
	}
}

func TestJobRoundTrip(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		created := time.UnixMilli(1_700_000_000_123).UTC()
		want := insertJob(t, s, "job_a", created)
		got, err := s.Job(t.Context(), "job_a")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != want.ID || got.QueueJobID != 42 || got.SourceType != want.SourceType || got.SourceID != want.SourceID ||
			got.StagedKey != want.StagedKey || !got.CreatedAt.Equal(created) || got.Outcome != "" || !got.FinishedAt.IsZero() {
			t.Errorf("Job = %+v, want %+v", got, want)
		}
		if _, err := s.Job(t.Context(), "job_missing"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Job(missing) = %v, want ErrNotFound", err)
		}
	})
}

// A failed transaction leaves nothing: the upload's job and queue entry
// commit together or not at all.
func TestInTxRollsBack(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		boom := errors.New("boom")
		err := s.InTx(t.Context(), func(tx *sql.Tx) error {
			if err := s.InsertJobs(t.Context(), tx, []store.Job{{ID: "job_r", SourceType: "a", SourceID: "b", StagedKey: "staging/job_r", CreatedAt: time.Now()}}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v, want boom", err)
		}
		if _, err := s.Job(t.Context(), "job_r"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("job of a rolled-back transaction: %v, want ErrNotFound", err)
		}
	})
}

func TestFinishJobOnce(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		j := insertJob(t, s, "job_f", time.Now())
		j.Outcome, j.Error, j.Attempts, j.Moderation = store.Rejected, "", 1, []byte(`{"flags":["nudity"]}`)
		if err := s.FinishJob(t.Context(), j, nil); err != nil {
			t.Fatal(err)
		}
		// A second outcome (a late, rescued attempt) does not overwrite the first.
		j.Outcome, j.Error, j.Moderation = store.Failed, "late", nil
		if err := s.FinishJob(t.Context(), j, nil); err != nil {
			t.Fatal(err)
		}
		got, err := s.Job(t.Context(), "job_f")
		if err != nil {
			t.Fatal(err)
		}
		if got.Outcome != store.Rejected || got.Error != "" || string(got.Moderation) != `{"flags":["nudity"]}` || got.FinishedAt.IsZero() {
			t.Errorf("Job = %+v, want the first outcome REJECTED with its details", got)
		}
	})
}

// TestOutcomeRecordedHook: the hook runs inside the outcome's transaction,
// only for the call that records the outcome, and its failure rolls the
// outcome back (how the worker queues webhooks with an outcome).
func TestOutcomeRecordedHook(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		var calls int
		count := func(*sql.Tx) error { calls++; return nil }
		fail := func(*sql.Tx) error { return errors.New("hook failed") }

		j := insertJob(t, s, "job_h1", time.Now())
		j.Outcome, j.Error, j.Attempts = store.Failed, "boom", 1
		if err := s.FinishJob(t.Context(), j, fail); err == nil {
			t.Fatal("FinishJob with a failing hook: nil error")
		}
		if got, _ := s.Job(t.Context(), "job_h1"); got.Outcome != "" {
			t.Errorf("outcome %q recorded although the hook failed", got.Outcome)
		}
		for range 2 { // the second call finds the outcome recorded
			if err := s.FinishJob(t.Context(), j, count); err != nil {
				t.Fatal(err)
			}
		}

		insertJob(t, s, "job_h2", time.Now())
		m := newMedia("job_h2", time.Now())
		if err := s.CompleteJob(t.Context(), "job_h2", 1, m, fail); err == nil {
			t.Fatal("CompleteJob with a failing hook: nil error")
		}
		if _, err := s.Media(t.Context(), m.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("media of a rolled-back completion: %v, want ErrNotFound", err)
		}
		for range 2 {
			if err := s.CompleteJob(t.Context(), "job_h2", 1, m, count); err != nil {
				t.Fatal(err)
			}
		}
		if calls != 2 {
			t.Errorf("hook called %d times, want once per recorded outcome (2)", calls)
		}
	})
}

// Many workers completing the same job at once (a rescued job whose first
// worker was only slow) record one media row and one outcome.
func TestCompleteJobExactlyOnce(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		insertJob(t, s, "job_c", time.Now())
		m := newMedia("job_c", time.UnixMilli(1_700_000_000_000).UTC())
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() { errs[i] = s.CompleteJob(context.Background(), "job_c", i+1, m, nil) })
		}
		wg.Wait()
		for i, err := range errs {
			// On PostgreSQL a loser may see the unique violation or a
			// serialization failure; SQLite serialises the writers.
			if err != nil && s.Dialect() == store.SQLite {
				t.Errorf("CompleteJob #%d: %v", i, err)
			}
		}
		got, err := s.Job(t.Context(), "job_c")
		if err != nil {
			t.Fatal(err)
		}
		if got.Outcome != store.Complete || got.MediaID != m.ID {
			t.Errorf("Job = %+v, want COMPLETE with media %s", got, m.ID)
		}
		list, err := s.ListMedia(t.Context(), "gallery", "user-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 {
			t.Fatalf("%d media rows for one job, want 1", len(list))
		}
		gm, err := s.Media(t.Context(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(gm.Facts) != fmt.Sprint(m.Facts) || !gm.CreatedAt.Equal(m.CreatedAt) || gm.JobID != "job_c" {
			t.Errorf("Media = %+v, want %+v", gm, m)
		}
	})
}

func TestListAndDeleteMedia(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		list, err := s.ListMedia(t.Context(), "gallery", "nobody")
		if err != nil || list == nil || len(list) != 0 {
			t.Fatalf("ListMedia(none) = %v, %v; want an empty, non-nil slice", list, err)
		}
		base := time.UnixMilli(1_700_000_000_000).UTC()
		for i, id := range []string{"job_1", "job_2", "job_3"} {
			insertJob(t, s, id, base)
			if err := s.CompleteJob(t.Context(), id, 1, newMedia(id, base.Add(time.Duration(i)*time.Second)), nil); err != nil {
				t.Fatal(err)
			}
		}
		list, err = s.ListMedia(t.Context(), "gallery", "user-1")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range list {
			ids = append(ids, m.ID)
		}
		if fmt.Sprint(ids) != "[med_job_3 med_job_2 med_job_1]" {
			t.Errorf("ListMedia order = %v, want newest first", ids)
		}

		if err := s.DeleteMedia(t.Context(), "med_job_2"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteMedia(t.Context(), "med_job_2"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second DeleteMedia = %v, want ErrNotFound", err)
		}
		if _, err := s.Media(t.Context(), "med_job_2"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Media(deleted) = %v, want ErrNotFound", err)
		}
		j, err := s.Job(t.Context(), "job_2")
		if err != nil {
			t.Fatal(err)
		}
		if j.Outcome != store.Complete || j.MediaID != "" {
			t.Errorf("job of deleted media = %+v, want COMPLETE with no media id", j)
		}
	})
}

func TestUnfinishedJobs(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		base := time.Now().Add(-time.Hour)
		for i := range 5 {
			insertJob(t, s, fmt.Sprintf("job_%d", i), base.Add(time.Duration(i)*time.Minute))
		}
		if err := s.CompleteJob(t.Context(), "job_1", 1, newMedia("job_1", base), nil); err != nil {
			t.Fatal(err)
		}
		jobs, err := s.UnfinishedJobs(t.Context(), base.Add(3*time.Minute+time.Second), 2)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, j := range jobs {
			ids = append(ids, j.ID)
		}
		if fmt.Sprint(ids) != "[job_0 job_2]" {
			t.Errorf("UnfinishedJobs = %v, want [job_0 job_2] (oldest first, limited)", ids)
		}
	})
}

// Every process of a fleet migrates at start-up, at the same time: the
// migrations run once, and opening an up-to-date database again applies
// nothing and loses nothing. (SQLite is one process's file: its stores are
// opened one after the other.)
func TestOpenConcurrentlyKeepsData(t *testing.T) {
	t.Parallel()
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			url, path := e.url(t)
			n := 6
			if e.name == "sqlite" {
				n = 1
			}
			var wg sync.WaitGroup
			stores := make([]*store.Store, n)
			errs := make([]error, n)
			for i := range stores {
				wg.Go(func() { stores[i], errs[i] = store.Open(context.Background(), url, path) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("concurrent Open #%d: %v", i, err)
				}
				defer stores[i].Close()
			}
			insertJob(t, stores[0], "job_keep", time.Now())
			s, err := store.Open(t.Context(), url, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Job(t.Context(), "job_keep"); err != nil {
				t.Errorf("job after reopening: %v", err)
			}
		})
	}
}

func TestOpenRejectsUnknownURL(t *testing.T) {
	t.Parallel()
	_, err := store.Open(t.Context(), "mysql://localhost/x", "")
	if err == nil {
		t.Fatal("Open(mysql://) succeeded")
	}
}

// What moderation said is kept with the media: a review round-trips as it
// was written, and a media without one (not moderated) reads back nil.
func TestMediaModeration(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		reviews := map[string]*moderation.Review{
			"job_annotated": {Status: moderation.Approved, Annotations: []string{"suggestive"}, Confidence: 0.9, Provider: "http",
				Labels: []moderation.Label{{Name: "Sexy", Confidence: 0.9}}},
			"job_unchecked":   {Status: moderation.Unchecked},
			"job_unmoderated": nil,
		}
		for id, review := range reviews {
			insertJob(t, s, id, time.Now())
			m := newMedia(id, time.Now())
			m.Moderation = review
			if err := s.CompleteJob(t.Context(), id, 1, m, nil); err != nil {
				t.Fatal(err)
			}
		}
		for id, want := range reviews {
			got, err := s.Media(t.Context(), "med_"+id)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Moderation, want) {
				t.Errorf("%s: Moderation = %+v, want %+v", id, got.Moderation, want)
			}
		}
		list, err := s.ListMedia(t.Context(), "gallery", "user-1")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range list {
			if want := reviews[m.JobID]; !reflect.DeepEqual(m.Moderation, want) {
				t.Errorf("ListMedia %s: Moderation = %+v, want %+v", m.ID, m.Moderation, want)
			}
		}
	})
}

// oldSchema opens an engine's database (url, or the SQLite file at path)
// with our migrations applied up to version only: a database as an older
// release left it. It is closed when the test ends.
func oldSchema(t *testing.T, engine, url, path string, version int64) *sql.DB {
	t.Helper()
	driver, source, dialect := "sqlite", "file:"+path, goose.DialectSQLite3
	if engine == "postgres" {
		driver, source, dialect = "pgx", url, goose.DialectPostgres
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, err := goose.NewProvider(dialect, db, os.DirFS(filepath.Join("migrations", engine)), goose.WithTableName("ximage_schema"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(t.Context(), version); err != nil {
		t.Fatalf("schema version %d: %v", version, err)
	}
	return db
}

// A database made by the first schema version upgrades in place: its media
// keep their facts and read back without moderation, and new media record
// theirs.
func TestOpenUpgradesSchema(t *testing.T) {
	t.Parallel()
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			url, path := e.url(t)
			db := oldSchema(t, e.name, url, path, 1)
			// A media row as version 1 wrote it.
			if _, err := db.ExecContext(t.Context(), `INSERT INTO ximage_media (id, job_id, source_type, source_id, doc, created_at)
				VALUES ('med_old', 'job_old', 'gallery', 'user-1', '{"width":300,"height":200}', 1700000000000)`); err != nil {
				t.Fatal(err)
			}

			s, err := store.Open(t.Context(), url, path)
			if err != nil {
				t.Fatalf("Open on a version 1 database: %v", err)
			}
			defer s.Close()
			old, err := s.Media(t.Context(), "med_old")
			if err != nil {
				t.Fatal(err)
			}
			if old.Facts.Width != 300 || old.Facts.Height != 200 || old.Moderation != nil {
				t.Errorf("media of version 1 = %+v, want 300x200 without moderation", old)
			}
			insertJob(t, s, "job_new", time.Now())
			m := newMedia("job_new", time.Now())
			m.Moderation = &moderation.Review{Status: moderation.Approved, Confidence: 0.99}
			if err := s.CompleteJob(t.Context(), "job_new", 1, m, nil); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Media(t.Context(), m.ID); err != nil || !reflect.DeepEqual(got.Moderation, m.Moderation) {
				t.Errorf("new media after the upgrade: %+v, %v; want moderation %+v", got.Moderation, err, m.Moderation)
			}
		})
	}
}

// An upload token is good for one job: UseTokens refuses an id recorded by
// a committed job, or twice in one statement, with ErrTokenUsed; a job
// without a token records nothing; TokenJob finds the job a token created.
func TestUseTokensOnce(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		exp := time.Now().Add(time.Hour)
		create := func(jobs ...store.Job) error {
			return s.InTx(t.Context(), func(tx *sql.Tx) error {
				if err := s.UseTokens(t.Context(), tx, jobs); err != nil {
					return err
				}
				return s.InsertJobs(t.Context(), tx, jobs)
			})
		}
		job := func(id, token string) store.Job {
			return store.Job{ID: id, SourceType: "a", SourceID: "b", StagedKey: "staging/" + id, CreatedAt: time.Now(), TokenID: token, TokenExpires: exp}
		}
		if err := create(job("job_1", "utk_a"), job("job_2", ""), job("job_3", "utk_b")); err != nil {
			t.Fatalf("first use: %v", err)
		}
		if err := create(job("job_4", "utk_a")); !errors.Is(err, store.ErrTokenUsed) {
			t.Errorf("second use: %v, want ErrTokenUsed", err)
		}
		if err := create(job("job_5", "utk_c"), job("job_6", "utk_c")); !errors.Is(err, store.ErrTokenUsed) {
			t.Errorf("one token twice in a batch: %v, want ErrTokenUsed", err)
		}
		for _, id := range []string{"job_4", "job_5", "job_6"} {
			if _, err := s.Job(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s of a refused batch: %v, want ErrNotFound", id, err)
			}
		}
		for token, want := range map[string]string{"utk_a": "job_1", "utk_b": "job_3"} {
			if got, err := s.TokenJob(t.Context(), token); err != nil || got != want {
				t.Errorf("TokenJob(%s) = %q, %v; want %s", token, got, err, want)
			}
		}
		if _, err := s.TokenJob(t.Context(), "utk_c"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("TokenJob of a token whose batch rolled back: %v, want ErrNotFound", err)
		}
	})
}

// TestSimilarMedia: near hashes of one source type, nearest then newest
// first, whatever their top bit (kept as a signed integer); other source
// types, far hashes, flat images (no hash) and the media itself left out.
func TestSimilarMedia(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		base := time.UnixMilli(1_700_000_000_000).UTC()
		const probe = 0xF0F0_0000_FFFF_1234 // top bit set: negative as int64
		add := func(id, sourceType string, hash uint64, at time.Duration) {
			t.Helper()
			insertJob(t, s, id, base)
			m := newMedia(id, base.Add(at))
			m.SourceType, m.PHash = sourceType, hash
			if err := s.CompleteJob(t.Context(), id, 1, m, nil); err != nil {
				t.Fatal(err)
			}
		}
		add("job_probe", "gallery", probe, 0)
		add("job_same", "gallery", probe, time.Second)              // distance 0
		add("job_near_old", "gallery", probe^0b111, 2*time.Second)  // 3
		add("job_near_new", "gallery", probe^0b1011, 3*time.Second) // 3, newer
		add("job_edge", "gallery", probe^0x3FF, 4*time.Second)      // 10
		add("job_far", "gallery", probe^0x7FF, 5*time.Second)       // 11
		add("job_other_type", "avatar", probe, 6*time.Second)
		add("job_flat", "gallery", 0, 7*time.Second)

		got, err := s.SimilarMedia(t.Context(), "med_job_probe", 10)
		if err != nil {
			t.Fatal(err)
		}
		var seen []string
		for _, m := range got {
			seen = append(seen, fmt.Sprintf("%s:%d", m.ID, m.Distance))
			if m.PHash == 0 || m.Facts.BlurHash == "" {
				t.Errorf("%s read back without its hash or facts: %+v", m.ID, m)
			}
		}
		want := "[med_job_same:0 med_job_near_new:3 med_job_near_old:3 med_job_edge:10]"
		if fmt.Sprint(seen) != want {
			t.Errorf("SimilarMedia = %v, want %s", seen, want)
		}
		if m, err := s.Media(t.Context(), "med_job_probe"); err != nil || m.PHash != probe {
			t.Errorf("Media = %x, %v; want the hash %x back", m.PHash, err, uint64(probe))
		}
		if got, err := s.SimilarMedia(t.Context(), "med_job_flat", 10); err != nil || len(got) != 0 || got == nil {
			t.Errorf("SimilarMedia(flat) = %v, %v; want an empty list", got, err)
		}
		if _, err := s.SimilarMedia(t.Context(), "med_nope", 10); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SimilarMedia(unknown) = %v, want ErrNotFound", err)
		}
	})
}

// TestPruneTokens: only the records of tokens expired before the given time
// go; the others still stop a second use.
func TestPruneTokens(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		now := time.Now()
		for i, exp := range []time.Time{now.Add(-48 * time.Hour), now.Add(-25 * time.Hour), now.Add(-time.Hour), now.Add(time.Hour)} {
			id := fmt.Sprintf("job_%d", i)
			j := store.Job{ID: id, SourceType: "a", SourceID: "b", StagedKey: "staging/" + id, CreatedAt: now, TokenID: fmt.Sprintf("utk_%d", i), TokenExpires: exp}
			if err := s.InTx(t.Context(), func(tx *sql.Tx) error {
				if err := s.UseTokens(t.Context(), tx, []store.Job{j}); err != nil {
					return err
				}
				return s.InsertJobs(t.Context(), tx, []store.Job{j})
			}); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.PruneTokens(t.Context(), now.Add(-24*time.Hour)); err != nil || n != 2 {
			t.Fatalf("PruneTokens = %d, %v; want the 2 expired over a day ago", n, err)
		}
		for i, want := range []bool{false, false, true, true} {
			_, err := s.TokenJob(t.Context(), fmt.Sprintf("utk_%d", i))
			if kept := err == nil; kept != want {
				t.Errorf("utk_%d kept %v (%v), want %v", i, kept, err, want)
			}
		}
	})
}
