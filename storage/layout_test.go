package storage_test

import (
	"testing"

	"github.com/ximagepipeline/ximagepipeline/storage"
)

// A direct upload's object lives beside the staged uploads under a name
// no job has, so that the staging sweep treats one never completed as an
// orphan, while the job's own staged key maps back to the job.
func TestLayoutStaging(t *testing.T) {
	t.Parallel()
	l := storage.Layout{Staging: "staging", Media: "media", Originals: "originals"}
	if got := l.Staged("job_a"); got != "staging/job_a" || l.StagedJobID(got) != "job_a" {
		t.Errorf("Staged = %q, StagedJobID of it = %q", got, l.StagedJobID(got))
	}
	got := l.DirectUpload("job_a")
	if got != "staging/job_a.put" || l.StagedJobID(got) == "job_a" {
		t.Errorf("DirectUpload = %q, StagedJobID of it = %q: want a key under staging that is no job's", got, l.StagedJobID(got))
	}
	if err := storage.ValidateKey(got); err != nil {
		t.Errorf("DirectUpload key: %v", err)
	}
}
