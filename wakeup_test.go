package ximagepipeline_test

// Wake-up latency: the time from an upload's 202 (Upload returning, after
// the commit) to a worker starting the job (its first read of the staged
// file). On PostgreSQL a worker in another process is woken by
// LISTEN/NOTIFY at once. River's SQLite driver emulates LISTEN by polling a
// notification table every 50 ms, in the same process or another; without
// either, a worker would find the job at its next fetch poll (1s).
//
//	go test -run '^$' -bench WakeUp -benchtime 20x .

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/pgtest"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
	"github.com/ximagepipeline/ximagepipeline/storage"
	"github.com/ximagepipeline/ximagepipeline/storage/local"
)

// startRecorder is a storage that notes when each staged upload is first
// read: the moment a worker starts its job.
type startRecorder struct {
	storage.Storage
	mu      sync.Mutex
	started map[string]chan time.Time
}

func (r *startRecorder) ch(key string) chan time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started == nil {
		r.started = map[string]chan time.Time{}
	}
	c, ok := r.started[key]
	if !ok {
		c = make(chan time.Time, 1)
		r.started[key] = c
	}
	return c
}

func (r *startRecorder) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if strings.HasPrefix(key, "staging/") {
		select {
		case r.ch(key) <- time.Now():
		default: // a retry: the first start counts
		}
	}
	return r.Storage.Get(ctx, key)
}

// wakeUpSetup is an API pipeline and the pipeline whose workers take its
// jobs (the same one for "in-process").
type wakeUpSetup struct {
	api *xip.Pipeline
	rec *startRecorder
}

func newWakeUp(t testing.TB, name string, poll time.Duration) wakeUpSetup {
	t.Helper()
	dir := t.TempDir()
	ls, err := local.New(filepath.Join(dir, "files"), "")
	if err != nil {
		t.Fatal(err)
	}
	rec := &startRecorder{Storage: ls}
	var dbURL string
	separate := true
	switch name {
	case "postgres":
		dbURL = pgtest.Start(t)
	case "sqlite-separate":
		dbURL = "sqlite:" + filepath.Join(dir, "x.db")
	case "sqlite-inprocess":
		dbURL, separate = "sqlite:"+filepath.Join(dir, "x.db"), false
	}
	open := func(noWorkers bool) *xip.Pipeline {
		p, err := xip.New(context.Background(), xip.Config{
			DatabaseURL: dbURL, Storage: rec, Logger: quietLogger(), Concurrency: 2, DisableWorkers: noWorkers,
			PollInterval: poll,
		})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			p.Close(ctx)
		})
		return p
	}
	s := wakeUpSetup{api: open(separate), rec: rec}
	if separate {
		open(false)
	}
	return s
}

// once uploads a small image and returns the time from Upload's return to
// the job's start, waiting for the job to finish (and a little more, so the
// queue's notification limiter never swallows the next one) before
// returning.
func (s wakeUpSetup) once(t testing.TB, i int, img []byte) time.Duration {
	id, err := s.api.Upload(context.Background(), xip.UploadRequest{SourceType: "avatar", SourceID: fmt.Sprint("w", i), File: bytes.NewReader(img)})
	accepted := time.Now()
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	var started time.Time
	select {
	case started = <-s.rec.ch("staging/" + id):
	case <-time.After(pollDeadline):
		t.Fatalf("job %s not started after %s", id, pollDeadline)
	}
	deadline := time.Now().Add(pollDeadline)
	for {
		j, err := s.api.GetStatus(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status == xip.StatusComplete {
			break
		}
		if j.Status != xip.StatusPending && j.Status != xip.StatusProcessing || time.Now().After(deadline) {
			t.Fatalf("job %s: %s", id, j.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(150 * time.Millisecond)
	return max(started.Sub(accepted), 0)
}

func median(d []time.Duration) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2]
}

func BenchmarkWakeUp(b *testing.B) {
	img := testimages.JPEG(testimages.Quadrants(64, 64), 80)
	for _, name := range []string{"postgres", "sqlite-inprocess", "sqlite-separate"} {
		b.Run(name, func(b *testing.B) {
			s := newWakeUp(b, name, 0)
			s.once(b, -1, img) // warm up
			var took []time.Duration
			i := 0
			for b.Loop() {
				took = append(took, s.once(b, i, img))
				i++
			}
			b.ReportMetric(float64(median(took).Microseconds())/1000, "ms-median-wakeup")
			b.ReportMetric(float64(slices.Max(took).Microseconds())/1000, "ms-max-wakeup")
		})
	}
}

// TestWakeUpByNotification proves, without timing anything, that a worker
// of another pipeline is woken by the job's NOTIFY on PostgreSQL: its poll
// interval is an hour, so a job it starts at all was announced to it.
func TestWakeUpByNotification(t *testing.T) {
	t.Parallel()
	s := newWakeUp(t, "postgres", time.Hour)
	img := testimages.JPEG(testimages.Quadrants(64, 64), 80)
	var took []time.Duration
	for i := range 4 {
		took = append(took, s.once(t, i, img)) // fails if the job never starts
	}
	t.Logf("wake-up on PostgreSQL with an hourly poll: median %s, all %v", median(took), took)
}
