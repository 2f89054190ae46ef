package ximagepipeline

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
	"github.com/ximagepipeline/ximagepipeline/storage"
	"github.com/ximagepipeline/ximagepipeline/uploadtoken"
)

// TestDirectCompletesOnTwoServers: two API servers complete one direct
// upload at once (the per-process lock does not span servers), here as
// two admits of one token, as TestTokenSpentAtCommit does. Each stages
// under a key of its own attempt: the first commits the job with its key,
// the second is refused TOKEN_USED and removes only its own copy, so the
// job's file is the one its complete checked.
func TestDirectCompletesOnTwoServers(t *testing.T) {
	t.Parallel()
	p, err := New(t.Context(), Config{
		DataDir: t.TempDir(), DisableWorkers: true, Logger: slog.New(slog.DiscardHandler),
		UploadTokenSecret: "test-secret-0123456789abcdefghij",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	x := testimages.JPEG(testimages.Quadrants(60, 40), 90)
	y := testimages.PNG(testimages.Quadrants(80, 20))
	g := &uploadtoken.Claims{ID: uploadtoken.NewID(), SourceType: "gallery", SourceID: "u",
		ExpiresAt: time.Now().Add(time.Minute).Truncate(time.Second), JobID: "job_twoservers", Size: int64(len(x))}
	complete := func(data []byte) (string, error) {
		return p.admit(t.Context(), &partList{parts: []formPart{{"file", bytes.NewReader(data)}}}, g)
	}
	if id, err := complete(x); err != nil || id != g.JobID {
		t.Fatalf("first complete: %q %v", id, err)
	}
	if _, err := complete(y); !errors.Is(err, ErrTokenUsed) {
		t.Fatalf("second complete: %v, want TOKEN_USED", err)
	}
	job, err := p.jobs.Job(t.Context(), g.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(job.StagedKey, "staging/"+g.JobID+".") || p.layout.StagedJobID(job.StagedKey) != g.JobID {
		t.Errorf("the job's staged key %q: want a copy of this job's under staging", job.StagedKey)
	}
	rc, err := p.storage.Get(t.Context(), job.StagedKey)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if staged, _ := io.ReadAll(rc); !bytes.Equal(staged, x) {
		t.Errorf("the job's staged file is %d bytes, want the %d its complete checked", len(staged), len(x))
	}
	var keys []string
	if err := p.storage.List(t.Context(), p.layout.StagingFolder(), func(o storage.Object) error {
		keys = append(keys, o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != job.StagedKey {
		t.Errorf("staged %v, want only the job's %s (the refused complete's copy removed)", keys, job.StagedKey)
	}
}
