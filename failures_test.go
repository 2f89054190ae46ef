package ximagepipeline_test

// The engines failing: PostgreSQL or S3 unreachable during an upload gives
// the contract's 500 with nothing half-written; during processing, the job
// is retried and completes once they are back. A TCP proxy in front of the
// real server plays the outage: down, it cuts every connection and refuses
// new ones.

import (
	"context"
	"database/sql"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/pgtest"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
	"github.com/ximagepipeline/ximagepipeline/storage"
	"github.com/ximagepipeline/ximagepipeline/storage/s3"
	"github.com/ximagepipeline/ximagepipeline/storage/storagetest"
)

// faultProxy forwards TCP connections to target until set down.
type faultProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *faultProxy) addr() string { return p.ln.Addr().String() }

func (p *faultProxy) serve(c net.Conn) {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[u] = struct{}{}
	p.mu.Unlock()
	go func() { io.Copy(u, c); u.Close() }()
	io.Copy(c, u)
	c.Close()
}

// setDown cuts every connection and refuses new ones (true), or lets them
// through again (false).
func (p *faultProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// failEnv is a pipeline on PostgreSQL and S3, each behind a proxy.
type failEnv struct {
	*env
	pg, s3  *faultProxy
	dbURL   string // direct, for the test's own checks
	bucket  storage.Storage
	release chan struct{} // when gated: closing it lets workers read staged uploads
}

func newFailEnv(t *testing.T, gated bool) *failEnv {
	t.Helper()
	dbURL := pgtest.Start(t)
	srv := storagetest.StartS3(t)
	f := &failEnv{dbURL: dbURL, s3: newFaultProxy(t, srv.Endpoint)}
	f.pg = newFaultProxy(t, strings.Split(strings.TrimPrefix(dbURL, "postgres://postgres@"), "/")[0])
	viaProxy := strings.Replace(dbURL, strings.Split(strings.TrimPrefix(dbURL, "postgres://postgres@"), "/")[0], f.pg.addr(), 1)
	f.bucket = s3Store(t, srv, nil)
	proxied := s3Store(t, srv, func(c *s3.Config) { c.Endpoint = f.s3.addr() })
	var st storage.Storage = proxied
	if gated {
		f.release = make(chan struct{})
		st = &stagedGate{Storage: proxied, release: f.release}
	}
	f.env = newEnv(t, func(c *xip.Config) {
		c.DatabaseURL, c.Storage = viaProxy, st
		c.MaxAttempts = 10
		c.RetryBackoff = 200 * time.Millisecond
		c.JobTimeout, c.RescueAfter = 3*time.Second, 5*time.Second
	})
	return f
}

// stagedGate holds every read of a staged upload until release is
// closed: the test takes the engines down while a job is running.
type stagedGate struct {
	storage.Storage
	release chan struct{}
}

func (g *stagedGate) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if strings.HasPrefix(key, "staging/") {
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Storage.Get(ctx, key)
}

func (f *failEnv) count(query string) int {
	f.t.Helper()
	db, err := sql.Open("pgx", f.dbURL)
	if err != nil {
		f.t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(query).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestUploadWhileDatabaseDown(t *testing.T) {
	t.Parallel()
	f := newFailEnv(t, false)
	img := testimages.JPEG(testimages.Quadrants(120, 80), 85)
	f.pg.setDown(true)
	code, body := f.upload(field("sourceType", "avatar"), field("sourceId", "u1"), file("a.jpg", img))
	if code != http.StatusInternalServerError || !jsonEqual(body, errBody("Failed to create processing job", "QUEUE_ERROR")) {
		t.Errorf("upload with the database down: %d %v, want 500 QUEUE_ERROR", code, body)
	}
	// The staged file was removed: nothing half-written.
	if keys := bucketKeys(t, f.bucket); len(keys) != 0 {
		t.Errorf("bucket after the refused upload: %v, want empty", keys)
	}
	f.pg.setDown(false)
	if n := f.count(`SELECT count(*) FROM ximage_jobs`); n != 0 {
		t.Errorf("%d job rows after the refused upload, want 0", n)
	}
	// Back up: uploads work again, without a restart.
	id := f.uploadOK("avatar", "u1", "a.jpg", img)
	f.waitMedia(id)
}

func TestUploadWhileStorageDown(t *testing.T) {
	t.Parallel()
	f := newFailEnv(t, false)
	img := testimages.JPEG(testimages.Quadrants(120, 80), 85)
	f.s3.setDown(true)
	start := time.Now()
	code, body := f.upload(field("sourceType", "avatar"), field("sourceId", "u1"), file("a.jpg", img))
	if code != http.StatusInternalServerError || !jsonEqual(body, errBody("Failed to upload file to storage", "STORAGE_ERROR")) {
		t.Errorf("upload with storage down: %d %v, want 500 STORAGE_ERROR", code, body)
	}
	t.Logf("refused after %s", time.Since(start).Round(time.Millisecond))
	f.s3.setDown(false)
	if n := f.count(`SELECT count(*) FROM ximage_jobs`); n != 0 {
		t.Errorf("%d job rows after the refused upload, want 0", n)
	}
	if keys := bucketKeys(t, f.bucket); len(keys) != 0 {
		t.Errorf("bucket after the refused upload: %v, want empty", keys)
	}
	id := f.uploadOK("avatar", "u1", "a.jpg", img)
	f.waitMedia(id)
}

// processWhileDown starts a job, takes an engine down while it runs, brings
// it back after outage, and checks the job completes exactly once.
func processWhileDown(t *testing.T, which string, outage time.Duration) {
	f := newFailEnv(t, true)
	proxy := map[string]*faultProxy{"database": f.pg, "storage": f.s3}[which]
	img := testimages.JPEG(testimages.Quadrants(120, 80), 85)
	id := f.uploadOK("avatar", "u1", "a.jpg", img)
	// The job is running, held before it reads its upload; take the
	// engine down, let it go on, and bring the engine back later.
	waitFor(t, pollDeadline, func() bool {
		code, body := f.status(id)
		return code == http.StatusAccepted && body["status"] == "PROCESSING"
	})
	proxy.setDown(true)
	close(f.release)
	time.Sleep(outage)
	proxy.setDown(false)

	m := f.waitMedia(id)
	attempts := f.count(`SELECT attempts FROM ximage_jobs`)
	t.Logf("%s down for %s: job COMPLETE at attempt %d", which, outage, attempts)
	if attempts < 2 {
		t.Errorf("job COMPLETE at attempt %d: the outage should have failed the first", attempts)
	}
	if n := f.count(`SELECT count(*) FROM ximage_media`); n != 1 {
		t.Errorf("%d media rows, want 1", n)
	}
	mediaID, _ := m["id"].(string)
	waitKeys(t, f.bucket, []string{
		"media/avatar/u1/" + mediaID + "/sm.webp",
		"media/avatar/u1/" + mediaID + "/xs.webp",
	})
}

func TestProcessingWhileStorageDown(t *testing.T) {
	t.Parallel()
	// Longer than minio-go's own retries (about 5s), which would bridge a
	// shorter outage inside one attempt.
	processWhileDown(t, "storage", 8*time.Second)
}

func TestProcessingWhileDatabaseDown(t *testing.T) {
	t.Parallel()
	processWhileDown(t, "database", 2*time.Second)
}
