package storage_test

import (
	"testing"

	"github.com/ximagepipeline/ximagepipeline/storage"
)

// Every staged key of a job (its upload, a direct upload's object, the
// copy a complete step makes) lives under staging and maps back to the
// job, so that the staging sweep keeps it while the job is alive and
// removes it once the job is finished, or as an orphan when no job came.
func TestLayoutStaging(t *testing.T) {
	t.Parallel()
	l := storage.Layout{Staging: "staging", Media: "media", Originals: "originals"}
	for _, c := range []struct{ key, want string }{
		{l.Staged("job_a"), "staging/job_a"},
		{l.DirectUpload("job_a"), "staging/job_a.put"},
		{l.StagedCopy("job_a", "n1"), "staging/job_a.n1"},
	} {
		if c.key != c.want || l.StagedJobID(c.key) != "job_a" {
			t.Errorf("key %q (want %q) maps to job %q, want job_a", c.key, c.want, l.StagedJobID(c.key))
		}
		if err := storage.ValidateKey(c.key); err != nil {
			t.Errorf("%s: %v", c.key, err)
		}
	}
	if l.StagedCopy("job_a", "n1") == l.StagedCopy("job_a", "n2") {
		t.Error("two complete attempts share a staged key")
	}
	if got := l.StagingFolder(); got != "staging/" {
		t.Errorf("StagingFolder = %q", got)
	}
}
