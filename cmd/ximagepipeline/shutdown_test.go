package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// TestGracefulStop plays a deploy: the server gets SIGTERM while an upload
// is being received or a job is inside its worker, and nothing accepted is
// lost. A job is held inside its worker by the moderation endpoint, which
// answers only when the test releases it (moderation runs inside the job).
func TestGracefulStop(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	jpg := testimages.JPEG(testimages.Quadrants(120, 80), 90)

	// A job running when SIGTERM arrives and finishing within the grace
	// completes: the process waits for it, not for the whole grace.
	t.Run("job finishes within the grace", func(t *testing.T) {
		t.Parallel()
		mod := newHeldModerator(t)
		data := t.TempDir()
		srv := startServer(t, bin, nil, "--data-dir", data, "--shutdown-grace", "2m",
			"--moderation", "http", "--moderation-url", mod.url, "--moderation-timeout", "5m")
		jobID := uploadAccepted(t, srv.base(), jpg)
		mod.waitEntered(t)

		srv.signal(t, syscall.SIGTERM)
		srv.waitStopping(t)
		mod.releaseAll()
		if code := srv.waitExit(t, time.Minute); code != 0 {
			t.Fatalf("exit status %d after the job finished, want 0", code)
		}

		// Read the outcome with a second process that processes nothing.
		reader := startServer(t, bin, nil, "--data-dir", data, "--workers=false")
		assertComplete(t, reader, jobID, "", "after the stop")
	})

	// A job still running when the grace runs out is handed back, without
	// counting an attempt: with --max-attempts 1 it would otherwise be
	// FAILED. The next start on the same data completes it.
	t.Run("job outlasting the grace is handed back", func(t *testing.T) {
		t.Parallel()
		mod := newHeldModerator(t)
		data := t.TempDir()
		args := mod.serveArgs(data)
		// The grace from the environment, as a container would set it.
		srv := startServer(t, bin, []string{"SHUTDOWN_GRACE=1s"}, args...)
		jobID := uploadAccepted(t, srv.base(), jpg)
		mod.waitEntered(t)
		// A browser watching the job: its event stream must end at the
		// stop, not hold it up past the grace.
		events, err := http.Get(srv.base() + "/events/" + jobID)
		if err != nil {
			t.Fatal(err)
		}
		defer events.Body.Close()
		stream := bufio.NewReader(events.Body)
		if first, err := stream.ReadString('\n'); err != nil || first != "event: status\n" {
			t.Fatalf("event stream: %d %q %v", events.StatusCode, first, err)
		}

		srv.signal(t, syscall.SIGTERM)
		// The grace is 1s; anything near a minute is a hang (without the
		// hand-back, the job would wait for its lease to run out).
		if code := srv.waitExit(t, time.Minute); code != 0 {
			t.Fatalf("exit status %d after handing the job back, want 0", code)
		}
		rest, _ := io.ReadAll(stream)
		if !bytes.Contains(rest, []byte(`"PROCESSING"`)) {
			t.Errorf("event stream at the stop: %q, want the PROCESSING status, then its end", rest)
		}

		again := startServer(t, bin, nil, args...)
		code, body := getStatus(t, again.base(), jobID, "")
		if code != http.StatusAccepted || (body["status"] != "PENDING" && body["status"] != "PROCESSING") {
			t.Fatalf("status of the handed-back job: %d %v, want 202 PENDING or PROCESSING", code, body)
		}
		mod.releaseAll()
		assertComplete(t, again, jobID, "30s", "after the restart")
	})

	// The `worker` command stops the same way, beside an API server on the
	// same data.
	t.Run("worker hands its job back", func(t *testing.T) {
		t.Parallel()
		mod := newHeldModerator(t)
		data := t.TempDir()
		args := mod.serveArgs(data)
		api := startServer(t, bin, nil, "--data-dir", data, "--workers=false")
		jobID := uploadAccepted(t, api.base(), jpg)
		worker := startProcess(t, bin, nil, append([]string{"worker", "--shutdown-grace", "1s"}, args...)...)
		mod.waitEntered(t)

		worker.signal(t, syscall.SIGTERM)
		if code := worker.waitExit(t, time.Minute); code != 0 {
			t.Fatalf("worker exit status %d after handing the job back, want 0", code)
		}
		code, body := getStatus(t, api.base(), jobID, "")
		if code != http.StatusAccepted || body["status"] != "PENDING" {
			t.Fatalf("status of the handed-back job: %d %v, want 202 PENDING", code, body)
		}
		mod.releaseAll()
		startProcess(t, bin, nil, append([]string{"worker"}, args...)...)
		assertComplete(t, api, jobID, "30s", "after a new worker")
	})

	// An upload being received when SIGTERM arrives is answered 202, and
	// its job is processed.
	t.Run("upload in flight", func(t *testing.T) {
		t.Parallel()
		data := t.TempDir()
		srv := startServer(t, bin, nil, "--data-dir", data, "--shutdown-grace", "1m")
		body, contentType := uploadForm(t, jpg)

		conn, err := net.Dial("tcp", srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// With "Expect: 100-continue" the server answers 100 once the
		// upload handler starts reading the body: the upload is in flight.
		fmt.Fprintf(conn, "POST /image-pipeline/upload HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
			srv.addr, contentType, len(body))
		r := bufio.NewReader(conn)
		cont, err := http.ReadResponse(r, nil)
		if err != nil || cont.StatusCode != http.StatusContinue {
			t.Fatalf("before the body: %v %v, want 100 Continue", cont, err)
		}
		half := len(body) / 2
		if _, err := conn.Write(body[:half]); err != nil {
			t.Fatal(err)
		}

		srv.signal(t, syscall.SIGTERM)
		srv.waitStopping(t)
		if _, err := conn.Write(body[half:]); err != nil {
			t.Fatalf("rest of the upload after SIGTERM: %v", err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("answer to the upload in flight: %v", err)
		}
		var accepted map[string]any
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted || json.Unmarshal(b, &accepted) != nil || accepted["jobId"] == nil {
			t.Fatalf("upload in flight at SIGTERM: %d %s, want 202 with a jobId", resp.StatusCode, b)
		}
		if code := srv.waitExit(t, time.Minute); code != 0 {
			t.Fatalf("exit status %d, want 0", code)
		}

		again := startServer(t, bin, nil, "--data-dir", data)
		assertComplete(t, again, accepted["jobId"].(string), "30s", "of the upload in flight")
	})
}

// TestShutdownGraceValidated: a grace of zero or less is refused at start.
func TestShutdownGraceValidated(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"0s", "-5s"} {
		var o options
		fs := newFlagSet(&o)
		if err := fs.Parse([]string{"--shutdown-grace", v}); err != nil {
			t.Fatal(err)
		}
		if err := o.load(fs); err == nil {
			t.Errorf("--shutdown-grace %s accepted, want an error", v)
		}
	}
	var o options
	fs := newFlagSet(&o)
	if err := o.load(fs); err != nil || o.shutdownGrace != 30*time.Second {
		t.Errorf("default grace %s (%v), want 30s", o.shutdownGrace, err)
	}
}

// heldModerator is an endpoint of the moderation protocol that approves
// every image, but only once released: until then the job that asked is
// held inside its worker.
type heldModerator struct {
	url     string
	entered chan struct{} // closed at the first request
	release chan struct{}
	once    sync.Once
}

func newHeldModerator(t *testing.T) *heldModerator {
	m := &heldModerator{entered: make(chan struct{}), release: make(chan struct{})}
	var enter sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		enter.Do(func() { close(m.entered) })
		select {
		case <-m.release:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"flags": [], "confidence": 0.99}`)
		case <-r.Context().Done(): // the job was cancelled
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(m.releaseAll) // before srv.Close, which waits for the handlers
	m.url = srv.URL + "/moderate"
	return m
}

func (m *heldModerator) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-m.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("no job reached moderation")
	}
}

// serveArgs are the options of a process on data whose jobs ask m, with one
// attempt each: a job handed back must not count it.
func (m *heldModerator) serveArgs(data string) []string {
	return []string{"--data-dir", data, "--max-attempts", "1",
		"--moderation", "http", "--moderation-url", m.url, "--moderation-timeout", "5m"}
}

func (m *heldModerator) releaseAll() { m.once.Do(func() { close(m.release) }) }

// uploadForm is the multipart body of an avatar upload of jpg.
func uploadForm(t *testing.T, jpg []byte) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("sourceType", "avatar")
	mw.WriteField("sourceId", "u1")
	part, err := mw.CreateFormFile("file", "a.jpg")
	if err != nil {
		t.Fatal(err)
	}
	part.Write(jpg)
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

// uploadAccepted uploads jpg as an avatar and returns its job id; anything
// but a 202 fails the test.
func uploadAccepted(t *testing.T, base string, jpg []byte) string {
	t.Helper()
	body, contentType := uploadForm(t, jpg)
	resp, err := http.Post(base+"/upload", contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		JobID string `json:"jobId"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(b, &out) != nil || out.JobID == "" {
		t.Fatalf("upload: %d %s, want 202 with a jobId", resp.StatusCode, b)
	}
	return out.JobID
}

// getStatus answers GET /status/{jobID}, with ?wait= when wait is set.
func getStatus(t *testing.T, base, jobID, wait string) (int, map[string]any) {
	t.Helper()
	u := base + "/status/" + jobID
	if wait != "" {
		u += "?wait=" + wait
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("status of %s: %d, body not JSON: %v", jobID, resp.StatusCode, err)
	}
	return resp.StatusCode, body
}

// assertComplete reads a job's status from s (a long poll of wait, if
// any): it must be COMPLETE, and every variant URL must serve a WebP.
func assertComplete(t *testing.T, s *server, jobID, wait, when string) {
	t.Helper()
	code, status := getStatus(t, s.base(), jobID, wait)
	if code != http.StatusOK || status["status"] != "COMPLETE" {
		t.Fatalf("status %s: %d %v, want 200 COMPLETE", when, code, status)
	}
	media, _ := status["media"].(map[string]any)
	urls, _ := media["urls"].(map[string]any)
	if len(urls) != 2 { // avatar: xs and sm
		t.Fatalf("media of the finished job: %v, want the avatar's 2 variants", status["media"])
	}
	for name, u := range urls {
		resp, err := http.Get("http://" + s.addr + u.(string))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/webp" {
			t.Errorf("variant %s (%s): %d %s, want 200 image/webp", name, u, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}
