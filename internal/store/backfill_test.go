package store_test

import (
	"strings"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/store"
)

// TestErrorCodeBackfill: a database of schema version 2 holding jobs as
// the worker wrote them before codes existed upgrades in place, each
// FAILED job getting the code its message implies, the others none, and
// its media rows reading back without a perceptual hash.
func TestErrorCodeBackfill(t *testing.T) {
	t.Parallel()
	old := map[string]struct{ outcome, msg, want string }{
		"job_undec":   {"FAILED", "Image could not be decoded: truncated", "UNDECODABLE"},
		"job_pixels":  {"FAILED", "Image too large. Maximum: 100 megapixels", "IMAGE_TOO_LARGE"},
		"job_orig":    {"FAILED", "Original too large once re-encoded. Maximum size: 50MB", "ORIGINAL_TOO_LARGE"},
		"job_mod":     {"FAILED", "Content moderation unavailable", "MODERATION_UNAVAILABLE"},
		"job_removed": {"FAILED", "Source type banner is no longer configured", "SOURCE_TYPE_REMOVED"},
		"job_staged":  {"FAILED", "The uploaded file is missing from staging", "STAGED_FILE_MISSING"},
		"job_key":     {"FAILED", "Storage refused the key media/a/b/c/sm.webp", "STORAGE_ERROR"},
		"job_other":   {"FAILED", "Processing failed: context deadline exceeded", "PROCESSING_ERROR"},
		"job_swept":   {"FAILED", "Processing failed: ", "PROCESSING_ERROR"},
		"job_done":    {"COMPLETE", "", ""},
		"job_rej":     {"REJECTED", "", ""},
		"job_open":    {"", "", ""},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			url, path := e.url(t)
			db := oldSchema(t, e.name, url, path, 2)
			q := `INSERT INTO ximage_jobs (id, queue_job_id, source_type, source_id, staged_key, outcome, error, attempts, created_at)
				VALUES (?, 1, 'gallery', 'u1', 'staging/x', ?, ?, 3, 1700000000000)`
			if e.name == "postgres" {
				q = strings.NewReplacer("(?, 1", "($1, 1", "?, ?, 3", "$2, $3, 3").Replace(q)
			}
			for id, j := range old {
				var outcome any
				if j.outcome != "" {
					outcome = j.outcome
				}
				if _, err := db.ExecContext(t.Context(), q, id, outcome, j.msg); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.ExecContext(t.Context(), `INSERT INTO ximage_media (id, job_id, source_type, source_id, doc, created_at)
				VALUES ('med_done', 'job_done', 'gallery', 'u1', '{"width":3,"height":2}', 1700000000000)`); err != nil {
				t.Fatal(err)
			}
			s, err := store.Open(t.Context(), url, path)
			if err != nil {
				t.Fatalf("Open on a version 2 database: %v", err)
			}
			defer s.Close()
			for id, j := range old {
				got, err := s.Job(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				if got.ErrorCode != j.want || got.Error != j.msg || got.Outcome != j.outcome {
					t.Errorf("%s: %q %q %q, want %q %q %q", id, got.Outcome, got.Error, got.ErrorCode, j.outcome, j.msg, j.want)
				}
			}
			m, err := s.Media(t.Context(), "med_done")
			if err != nil || m.PHash != 0 || m.Facts.Width != 3 {
				t.Errorf("old media after the upgrade: %+v, %v", m, err)
			}
			if list, err := s.SimilarMedia(t.Context(), "med_done", 10); err != nil || len(list) != 0 {
				t.Errorf("SimilarMedia of an old media: %v, %v; want none", list, err)
			}
		})
	}
}
