package ximagepipeline_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// answer is an HTTP status code and a JSON body.
type answer struct {
	code int
	body map[string]any
}

// getLater GETs path in the background: the answer comes on the channel.
func (e *env) getLater(path string) <-chan answer {
	ch := make(chan answer, 1)
	go func() {
		code, body := e.get(path)
		ch <- answer{code, body}
	}()
	return ch
}

// TestStatusWait: ?wait= answers as soon as a held job finishes, with the
// final status, and a job still running after the wait answers 202.
func TestStatusWait(t *testing.T) {
	t.Parallel()
	e, gs, id := heldJob(t, 0)

	if code, body := e.get(e.prefix() + "/status/" + id + "?wait=100ms"); code != http.StatusAccepted || body["status"] != "PROCESSING" {
		t.Fatalf("short wait on a held job: %d %v, want 202 PROCESSING", code, body)
	}
	done := e.getLater(e.prefix() + "/status/" + id + "?wait=30s")
	select {
	case a := <-done:
		t.Fatalf("the long poll answered %d %v before the job could finish", a.code, a.body)
	case <-time.After(300 * time.Millisecond):
	}
	close(gs.hold)
	select {
	case a := <-done:
		if a.code != http.StatusOK || a.body["status"] != "COMPLETE" || a.body["media"] == nil {
			t.Fatalf("long poll: %d %v, want 200 COMPLETE with media", a.code, a.body)
		}
	case <-time.After(pollDeadline):
		t.Fatal("the long poll never answered")
	}
	if code, body := e.get(e.prefix() + "/status/" + id + "?wait=soon"); code != http.StatusBadRequest || body["code"] != "INVALID_WAIT" {
		t.Errorf("bad wait: %d %v", code, body)
	}
	if code, body := e.get(e.prefix() + "/status/job_nope?wait=1s"); code != http.StatusNotFound || body["code"] != "JOB_NOT_FOUND" {
		t.Errorf("wait on an unknown job: %d %v", code, body)
	}
}

// TestEventStream: the event stream sends the status now, then each change
// (and nothing in between), and ends with the final one, whose data is the
// status body.
func TestEventStream(t *testing.T) {
	t.Parallel()
	e, gs, id := heldJob(t, 0)

	resp, err := http.Get(e.srv.URL + e.prefix() + "/events/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("%d %q, want 200 text/event-stream", resp.StatusCode, ct)
	}
	events := readEvents(t, resp.Body)
	first := <-events
	if first["status"] != "PROCESSING" {
		t.Fatalf("first event %v, want PROCESSING", first)
	}
	// Past the 15 s keep-alive: quiet time gets a comment, never the same
	// status again, so the next event is the change.
	time.Sleep(16 * time.Second)
	close(gs.hold)
	last := <-events
	if last["status"] != "COMPLETE" || last["jobId"] != id {
		t.Fatalf("next event %v, want COMPLETE", last)
	}
	_, want := e.status(id)
	if !jsonEqual(last, want) {
		t.Errorf("final event %v differs from the status body %v", last, want)
	}
	if _, open := <-events; open {
		t.Error("the stream goes on after the final status")
	}
	if code, body := e.get(e.prefix() + "/events/job_nope"); code != http.StatusNotFound || body["code"] != "JOB_NOT_FOUND" {
		t.Errorf("events of an unknown job: %d %v", code, body)
	}
}

// TestEndWaits: at the start of a stop, long polls and event streams answer
// at once with the status so far, later ones do not wait, and uploads are
// still taken.
func TestEndWaits(t *testing.T) {
	t.Parallel()
	e, gs, id := heldJob(t, 0)
	defer close(gs.hold)

	polled := e.getLater(e.prefix() + "/status/" + id + "?wait=60s")
	resp, err := http.Get(e.srv.URL + e.prefix() + "/events/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := readEvents(t, resp.Body)
	if first := <-events; first["status"] != "PROCESSING" {
		t.Fatalf("first event %v, want PROCESSING", first)
	}
	select {
	case a := <-polled:
		t.Fatalf("the long poll answered %d %v before the stop", a.code, a.body)
	case <-time.After(300 * time.Millisecond):
	}

	e.p.EndWaits()
	want := map[string]any{"jobId": id, "status": "PROCESSING"}
	select {
	case a := <-polled:
		if a.code != http.StatusAccepted || !jsonEqual(a.body, want) {
			t.Errorf("long poll at the stop: %d %v, want 202 %v", a.code, a.body, want)
		}
	case <-time.After(pollDeadline):
		t.Fatal("the long poll did not answer at the stop")
	}
	select {
	case ev, open := <-events:
		if open {
			t.Errorf("the event stream sent %v at the stop, want it to end", ev)
		}
	case <-time.After(pollDeadline):
		t.Fatal("the event stream did not end at the stop")
	}
	start := time.Now()
	if code, body := e.get(e.prefix() + "/status/" + id + "?wait=60s"); code != http.StatusAccepted || !jsonEqual(body, want) {
		t.Errorf("long poll after the stop began: %d %v, want 202 %v", code, body, want)
	}
	if waited := time.Since(start); waited > pollDeadline {
		t.Errorf("a long poll after the stop began waited %s", waited)
	}
	if code, body := e.upload(field("sourceType", "avatar"), field("sourceId", "u1"), file("a.jpg", testimages.OrientedJPEG(testimages.Quadrants(64, 48), 1))); code != http.StatusAccepted {
		t.Errorf("upload after EndWaits: %d %v, want 202", code, body)
	}
}

// readEvents decodes the data of each "status" event until the stream ends.
func readEvents(t *testing.T, r io.Reader) <-chan map[string]any {
	out := make(chan map[string]any)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "status":
				var body map[string]any
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &body); err != nil {
					t.Errorf("event data %q: %v", line, err)
					return
				}
				out <- body
			}
		}
	}()
	return out
}

// TestMetricsAndRequestIDs: /metrics counts uploads by outcome and
// attempts by result; every answer carries a request id, the client's own
// when it sent a sane one.
func TestMetricsAndRequestIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	id := e.uploadOK("avatar", "u1", "a.jpg", testimages.JPEG(testimages.Quadrants(80, 60), 90))
	e.wait(id)
	e.upload(field("sourceType", "nope"), field("sourceId", "u1"), file("a.jpg", testimages.JPEG(testimages.Quadrants(8, 8), 90)))

	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+e.prefix()+"/config", nil)
	req.Header.Set("X-Request-Id", "trace-42")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-Id"); got != "trace-42" {
		t.Errorf("X-Request-Id %q, want the client's", got)
	}
	resp, err = http.Get(e.srv.URL + e.prefix() + "/status/" + id)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-Id"); !strings.HasPrefix(got, "req_") {
		t.Errorf("X-Request-Id %q, want a generated one", got)
	}

	// The attempt is counted as its worker returns, a moment after the
	// status turns COMPLETE: poll until it shows.
	const attempted = `ximagepipeline_job_attempts_total{result="COMPLETE",source_type="avatar"} 1`
	var text string
	for deadline := time.Now().Add(pollDeadline); ; time.Sleep(20 * time.Millisecond) {
		metrics, _ := io.ReadAll(serveMetrics(t, e.p))
		if text = string(metrics); strings.Contains(text, attempted) || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range []string{
		`ximagepipeline_uploads_total{outcome="accepted"} 1`,
		`ximagepipeline_uploads_total{outcome="UNKNOWN_SOURCE_TYPE"} 1`,
		attempted,
		`ximagepipeline_jobs_in_flight 0`,
		`ximagepipeline_queue_depth 0`,
		`ximagepipeline_libvips_memory_peak_bytes`,
		`ximagepipeline_job_attempt_seconds_count{result="COMPLETE",source_type="avatar"} 1`,
		`ximagepipeline_stage_seconds_count{stage="imaging"} 1`,
		`ximagepipeline_stage_seconds_count{stage="store"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func serveMetrics(t *testing.T, p *xip.Pipeline) io.Reader {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "/metrics", nil)
	rec := httptest.NewRecorder()
	p.MetricsHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("metrics: %d", rec.Code)
	}
	return rec.Body
}

// TestUploadsBusy: past MaxConcurrentUploads, an upload answers 503 BUSY
// with Retry-After, and the ones in flight are unharmed.
func TestUploadsBusy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(cfg *xip.Config) { cfg.MaxConcurrentUploads = 1 })
	// A server of its own around the pipeline, to know when the held upload
	// (the only one sent without a length) has reached the handler: a probe
	// sent before that could take the slot first.
	entered := make(chan struct{})
	var once sync.Once
	mux := http.NewServeMux()
	mux.Handle(e.prefix()+"/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength < 0 {
			once.Do(func() { close(entered) })
		}
		e.p.Handler().ServeHTTP(w, r)
	}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := srv.Client()

	// The first upload's body is held open, so it keeps its slot.
	pr, pw := io.Pipe()
	defer pw.CloseWithError(errors.New("test over")) // else the server's Close waits on it
	body, contentType := form(field("sourceType", "avatar"), field("sourceId", "u1"),
		file("a.jpg", testimages.JPEG(testimages.Quadrants(80, 60), 90)))
	type answer struct {
		code int
		err  error
	}
	first := make(chan answer, 1)
	go func() {
		resp, err := client.Post(srv.URL+e.prefix()+"/upload", contentType, pr)
		if err != nil {
			first <- answer{err: err}
			return
		}
		resp.Body.Close()
		first <- answer{code: resp.StatusCode}
	}()
	go pw.Write(body[:100])
	select {
	case <-entered:
	case <-time.After(pollDeadline):
		t.Fatal("the held upload never reached the handler")
	}
	var code int
	var resp *http.Response
	for deadline := time.Now().Add(pollDeadline); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, ct := form(field("sourceType", "avatar"), field("sourceId", "u2"), file("b.jpg", testimages.JPEG(testimages.Quadrants(8, 8), 90)))
		var err error
		resp, err = client.Post(srv.URL+e.prefix()+"/upload", ct, strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if code = resp.StatusCode; code == http.StatusServiceUnavailable {
			break
		}
	}
	if code != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("second upload while the first holds the only slot: %d, Retry-After %q", code, resp.Header.Get("Retry-After"))
	}
	pw.Write(body[100:])
	pw.Close()
	if a := <-first; a.err != nil || a.code != http.StatusAccepted {
		t.Fatalf("the held upload: %d %v, want 202", a.code, a.err)
	}
}
