//go:build linux

package ximagepipeline_test

// The fleet: the real binary as one API process (serve --workers=false) and
// three worker processes, on one PostgreSQL database and one S3 bucket.
// 300 uploads at once; one worker is killed with SIGKILL in the middle,
// another stopped with SIGTERM and replaced. Every job must end COMPLETE
// exactly once, with exactly its objects in the bucket and nothing staged.
//
// It logs the fleet's uploads/s and jobs/s on this machine; XIP_FLEET_LOG=1
// shows the processes' logs.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, to look into the fleet's database

	"github.com/ximagepipeline/ximagepipeline/internal/pgtest"
	"github.com/ximagepipeline/ximagepipeline/internal/queue"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
	"github.com/ximagepipeline/ximagepipeline/internal/testproc"
	"github.com/ximagepipeline/ximagepipeline/storage/storagetest"
)

const fleetUploads = 300

func TestFleet(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("the fleet test builds the binary and runs five processes for about a minute; it runs without -short")
	}
	bin := buildBinary(t)
	dbURL := pgtest.Start(t)
	srv := storagetest.StartS3(t)
	srv.AllowAnonymousRead(t, srv.Bucket)
	st := s3Store(t, srv, nil)
	images := fleetImages(t)

	// One option through each source of the scheme: the environment
	// (database, S3), a config file (job timings) and flags (the rest).
	env := append(os.Environ(),
		"DATABASE_URL="+dbURL,
		"S3_ENDPOINT=http://"+srv.Endpoint,
		"S3_BUCKET="+srv.Bucket,
		"S3_REGION="+srv.Region,
		"S3_ACCESS_KEY_ID="+srv.AccessKeyID,
		"S3_SECRET_ACCESS_KEY="+srv.SecretAccessKey,
		"S3_PATH_STYLE=true",
	)
	config := filepath.Join(t.TempDir(), "fleet.yaml")
	// A short lease so that the killed worker's jobs are rescued in
	// seconds (plus River's rescuer period, 30s), and a short cleanup.
	writeFile(t, config, "job-timeout: 5s\nrescue-after: 8s\ncleanup-interval: 3s\nmax-attempts: 5\nlog-level: info\n")
	common := []string{"--config", config, "--data-dir", t.TempDir()}

	if out, err := runBinary(bin, env, append([]string{"migrate"}, common...)...); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	api := startProcess(t, "api", bin, env, append([]string{"serve", "--workers=false", "--addr", addr}, common...)...)
	workers := []*process{}
	for i := range 3 {
		workers = append(workers, startProcess(t, fmt.Sprint("worker-", i+1), bin, env, append([]string{"worker", "--concurrency", "2"}, common...)...))
	}
	base := "http://" + addr + "/image-pipeline"
	waitReady(t, "http://"+addr+"/readyz", api)

	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	complete := func() int {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM ximage_jobs WHERE outcome = 'COMPLETE'`).Scan(&n); err != nil {
			t.Fatalf("count complete: %v", err)
		}
		return n
	}

	// 300 uploads at once; a 503 BUSY (over the upload slots) is retried
	// after its Retry-After, as a client should.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: fleetUploads}, Timeout: time.Minute}
	start := time.Now()
	jobs := make([]string, fleetUploads)
	var busy atomic.Int64
	var wg sync.WaitGroup
	for i := range fleetUploads {
		wg.Go(func() {
			jobs[i] = fleetUpload(t, client, base, fmt.Sprintf("user-%03d", i), images[i%len(images)], &busy)
		})
	}
	// Meanwhile: SIGKILL a worker once about a third of the jobs are
	// done; SIGTERM another at two thirds and start a replacement.
	go func() {
		waitFor(t, 2*time.Minute, func() bool { return complete() >= fleetUploads/3 })
		t.Logf("SIGKILL %s at %d complete", workers[0].name, complete())
		workers[0].cmd.Process.Kill()
		waitFor(t, 2*time.Minute, func() bool { return complete() >= 2*fleetUploads/3 })
		t.Logf("SIGTERM %s at %d complete", workers[1].name, complete())
		workers[1].cmd.Process.Signal(syscall.SIGTERM)
		startProcess(t, "worker-4", bin, env, append([]string{"worker", "--concurrency", "2"}, common...)...)
	}()
	wg.Wait()
	uploaded := time.Since(start)
	if t.Failed() {
		t.FailNow()
	}
	waitFor(t, 3*time.Minute, func() bool { return complete() == fleetUploads })
	processed := time.Since(start)
	// The outcome is recorded before the queue marks its entry completed:
	// an entry whose worker died between the two is rescued, and its
	// second attempt only finds the outcome (the rescuer runs every 30s).
	waitFor(t, 90*time.Second, func() bool {
		_, notCompleted := processEntries(t, db)
		return notCompleted == 0
	})

	// The stopped worker finished or handed back its jobs, and exited cleanly.
	select {
	case <-workers[1].done:
		if workers[1].err != nil {
			t.Errorf("%s after SIGTERM: %v, want a clean exit", workers[1].name, workers[1].err)
		}
	case <-time.After(40 * time.Second):
		t.Errorf("%s still running 40s after SIGTERM", workers[1].name)
	}

	// The database: one COMPLETE outcome and one media row per job, the
	// media id derived from the job's, every queue entry completed.
	var jobRows, mediaRows, badMedia int
	q := func(dst *int, query string) {
		t.Helper()
		if err := db.QueryRow(query).Scan(dst); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	q(&jobRows, `SELECT count(*) FROM ximage_jobs`)
	q(&mediaRows, `SELECT count(*) FROM ximage_media`)
	q(&badMedia, `SELECT count(*) FROM ximage_jobs j LEFT JOIN ximage_media m ON m.job_id = j.id
		WHERE m.id IS NULL OR j.media_id <> m.id OR m.id <> 'med_' || substr(j.id, 5)`)
	rescued, notCompleted := processEntries(t, db)
	if jobRows != fleetUploads || mediaRows != fleetUploads || badMedia != 0 || notCompleted != 0 {
		t.Errorf("jobs %d, media rows %d, jobs without exactly their media %d, queue entries not completed %d; want %d, %d, 0, 0",
			jobRows, mediaRows, badMedia, notCompleted, fleetUploads, fleetUploads)
	}

	// The bucket: exactly the variants of every media, nothing staged
	// (workers remove a finished job's upload; the cleanup sweeps).
	var want []string
	rows, err := db.Query(`SELECT source_id, media_id FROM ximage_jobs`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var sid, mid string
		if err := rows.Scan(&sid, &mid); err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{"sm", "xs"} {
			want = append(want, fmt.Sprintf("media/avatar/%s/%s/%s.webp", sid, mid, v))
		}
	}
	rows.Close()
	slices.Sort(want)
	waitKeys(t, st, want)

	// A client sees them COMPLETE, with URLs of the bucket that serve WebP.
	for _, id := range []string{jobs[0], jobs[fleetUploads/2], jobs[fleetUploads-1]} {
		var body struct {
			Status string `json:"status"`
			Media  struct {
				URLs map[string]string `json:"urls"`
			} `json:"media"`
		}
		getJSON(t, client, base+"/status/"+id, &body)
		if body.Status != "COMPLETE" || !strings.HasPrefix(body.Media.URLs["sm"], srv.URL+"/"+srv.Bucket+"/media/avatar/") {
			t.Errorf("status %s: %+v, want COMPLETE with bucket URLs", id, body)
			continue
		}
		data, h := fetchPublic(t, nil, body.Media.URLs["sm"])
		if img, _ := decode(t, data); img.Bounds().Dx() != 150 || h.Get("Content-Type") != "image/webp" {
			t.Errorf("%s: %dx%d %s, want 150x150 image/webp", body.Media.URLs["sm"], img.Bounds().Dx(), img.Bounds().Dy(), h.Get("Content-Type"))
		}
	}

	t.Logf("fleet of 1 API + 3 workers (concurrency 2) on %d CPUs: %d uploads in %s (%.0f uploads/s; %d 503 BUSY answers, retried), all COMPLETE after %s (%.1f jobs/s); %d jobs took more than one attempt (rescued or handed back)",
		cpus(), fleetUploads, uploaded.Round(time.Millisecond), float64(fleetUploads)/uploaded.Seconds(), busy.Load(),
		processed.Round(time.Millisecond), float64(fleetUploads)/processed.Seconds(), rescued)
}

// fleetImages are the real images of the shared test data, or generated
// ones when it is absent.
func fleetImages(t *testing.T) [][]byte {
	t.Helper()
	var out [][]byte
	for _, name := range []string{"320x240.jpg", "4.webp", "blackbug.png", "gamma_dalai_lama_gray.jpg", "with-alpha.png",
		"Landscape_1.jpg", "Landscape_3.jpg", "Landscape_6.jpg", "Portrait_2.jpg", "Portrait_5.jpg", "Portrait_8.jpg"} {
		if data := testimages.SharedOptional(t, name); data != nil {
			out = append(out, data)
		}
	}
	if len(out) == 0 {
		t.Log("uploading generated images instead")
		for i := range 8 {
			out = append(out, testimages.OrientedJPEG(testimages.Quadrants(400+40*i, 300+20*i), i+1))
		}
	}
	return out
}

func fleetUpload(t *testing.T, client *http.Client, base, sourceID string, data []byte, busy *atomic.Int64) string {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("sourceType", "avatar")
	mw.WriteField("sourceId", sourceID)
	fw, _ := mw.CreateFormFile("file", "image")
	fw.Write(data)
	mw.Close()
	for try := 0; ; try++ {
		resp, err := client.Post(base+"/upload", mw.FormDataContentType(), bytes.NewReader(body.Bytes()))
		if err != nil {
			t.Errorf("upload %s: %v", sourceID, err)
			return ""
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable && try < 20 {
			busy.Add(1)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		var out struct {
			JobID string `json:"jobId"`
		}
		if resp.StatusCode != http.StatusAccepted || json.Unmarshal(raw, &out) != nil || out.JobID == "" {
			t.Errorf("upload %s: %d %s", sourceID, resp.StatusCode, raw)
		}
		return out.JobID
	}
}

func getJSON(t *testing.T, client *http.Client, url string, dst any) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(dst); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// buildBinary builds cmd/ximagepipeline into the test's temp dir.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ximagepipeline")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/ximagepipeline")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func runBinary(bin string, env []string, args ...string) ([]byte, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	return cmd.CombinedOutput()
}

// process is one running command of the fleet.
type process struct {
	name string
	cmd  *exec.Cmd
	logs *testproc.Buffer
	done chan struct{}
	err  error // once done
}

// startProcess starts bin; it is killed when the test ends (and by the
// kernel if the test binary dies), its logs shown when the test fails.
func startProcess(t *testing.T, name, bin string, env []string, args ...string) *process {
	t.Helper()
	p := &process{name: name, cmd: exec.Command(bin, args...), logs: &testproc.Buffer{}, done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() || os.Getenv("XIP_FLEET_LOG") != "" {
			t.Logf("--- %s (%s) log:\n%s", name, strings.Join(args, " "), p.logs.String())
		}
	})
	return p
}

func waitReady(t *testing.T, url string, p *process) {
	t.Helper()
	waitFor(t, 30*time.Second, func() bool {
		select {
		case <-p.done:
			t.Fatalf("%s exited: %v\n%s", p.name, p.err, p.logs.String())
		default:
		}
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// waitFor polls cond every 100ms until it holds, failing after d.
func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Errorf("condition not met within %s", d)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func cpus() int { return runtime.NumCPU() }

// processEntries counts the queue's process entries tried more than once
// and those not completed.
func processEntries(t *testing.T, db *sql.DB) (retried, notCompleted int) {
	t.Helper()
	entries, err := queue.Entries(context.Background(), db, queue.KindProcess)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Attempt > 1 {
			retried++
		}
		if e.State != "completed" {
			notCompleted++
		}
	}
	return retried, notCompleted
}
