package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// TestOptionPrecedence: a flag beats the environment, which beats the
// config file, which beats the default; variants come from the file.
func TestOptionPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(file, []byte(`
data-dir: /from/file
prefix: /from-file
max-attempts: 7
shutdown-grace: 45s
webhook-max-attempts: 4
allowed-type: [image/jpeg, image/avif]
variants:
  thumb: {width: 200, height: 200, fit: cover}
sourceTypes:
  product: {variants: [thumb], quality: 90}
`), 0o644)
	t.Setenv("PREFIX", "/from-env")
	t.Setenv("MAX_ATTEMPTS", "5")
	t.Setenv("WEBHOOK_TIMEOUT", "3s")
	var o options
	fs := newFlagSet(&o)
	if err := fs.Parse([]string{"--config", file, "--max-attempts", "9"}); err != nil {
		t.Fatal(err)
	}
	if err := o.load(fs); err != nil {
		t.Fatal(err)
	}
	cfg := o.config()
	if cfg.DataDir != "/from/file" || cfg.Prefix != "/from-env" || cfg.MaxAttempts != 9 {
		t.Errorf("data dir %q (want file), prefix %q (want env), attempts %d (want flag 9)", cfg.DataDir, cfg.Prefix, cfg.MaxAttempts)
	}
	if cfg.WebhookMaxAttempts != 4 || cfg.WebhookTimeout != 3*time.Second {
		t.Errorf("webhook attempts %d (want the file's 4), timeout %s (want the environment's 3s)", cfg.WebhookMaxAttempts, cfg.WebhookTimeout)
	}
	if o.shutdownGrace != 45*time.Second {
		t.Errorf("shutdown grace %s, want the file's 45s", o.shutdownGrace)
	}
	if len(cfg.AllowedTypes) != 2 || cfg.AllowedTypes[1] != "image/avif" {
		t.Errorf("allowed types from the file's list: %v", cfg.AllowedTypes)
	}
	if v := cfg.Variants["thumb"]; v.Width != 200 || v.Fit != "cover" {
		t.Errorf("variants from the file: %+v", cfg.Variants)
	}
	if st := cfg.SourceTypes["product"]; st.Quality != 90 || len(st.Variants) != 1 {
		t.Errorf("source types from the file: %+v", cfg.SourceTypes)
	}
}

// TestReadmeConfigExample: the config file the README shows under "Default
// variants and source types" loads and makes a valid pipeline (a
// variants key replaces the whole default table, so the example must
// define every variant its source types use).
func TestReadmeConfigExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Default variants and source types\n")
	if !ok {
		t.Fatal(`README.md has no section "## Default variants and source types"`)
	}
	section, _, _ = strings.Cut(section, "\n## ") // up to the next section
	_, block, ok := strings.Cut(section, "\n```yaml\n")
	if !ok {
		t.Fatal("no ```yaml block in the README's section on default variants and source types")
	}
	block, _, ok = strings.Cut(block, "\n```")
	if !ok {
		t.Fatal("the README's yaml block is not closed")
	}
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte(block+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var o options
	fs := newFlagSet(&o)
	if err := fs.Parse([]string{"--config", file}); err != nil {
		t.Fatal(err)
	}
	if err := o.load(fs); err != nil {
		t.Fatalf("README config example: %v", err)
	}
	cfg := o.config()
	if len(cfg.Variants) == 0 || len(cfg.SourceTypes) == 0 {
		t.Fatalf("the README example defines no variants or source types: %+v %+v", cfg.Variants, cfg.SourceTypes)
	}
	cfg.DataDir, cfg.DisableWorkers = t.TempDir(), true
	cfg.Logger = slog.New(slog.DiscardHandler)
	p, err := ximagepipeline.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("README config example: %v", err)
	}
	p.Close(context.Background())
}

// TestCommandLine builds the binary, serves, and drives it as a script
// would: the client commands' output and exit codes.
func TestCommandLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := buildBinary(t)
	// An OTLP/HTTP receiver: the server exports its traces there.
	var traced atomic.Int32
	otlp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
			traced.Add(1)
		}
	}))
	defer otlp.Close()
	srv := startServer(t, bin, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + otlp.URL, "OTEL_BSP_SCHEDULE_DELAY=100"},
		"--data-dir", filepath.Join(dir, "data"))
	server, addr := srv.base(), srv.addr

	run := func(args ...string) (int, []byte) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "SERVER="+server)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), append(out, stderr.Bytes()...)
		}
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return 0, out
	}

	good := filepath.Join(dir, "good.jpg")
	os.WriteFile(good, testimages.JPEG(testimages.Quadrants(300, 200), 90), 0o644)
	broken := filepath.Join(dir, "broken.jpg")
	os.WriteFile(broken, testimages.TruncatedJPEG(300, 200), 0o644)

	code, out := run("upload", "--source-type", "gallery", "--source-id", "u1", "--wait", good)
	var done struct {
		Status string `json:"status"`
		Media  struct {
			ID   string            `json:"id"`
			URLs map[string]string `json:"urls"`
		} `json:"media"`
	}
	if code != exitOK || json.Unmarshal(out, &done) != nil || done.Status != "COMPLETE" || done.Media.URLs["md"] == "" {
		t.Fatalf("upload --wait: exit %d, %s", code, out)
	}
	for deadline := time.Now().Add(20 * time.Second); traced.Load() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no traces reached the OTLP endpoint")
		}
	}
	if code, out := run("upload", "--source-type", "gallery", "--source-id", "u1", "--wait", broken); code != exitFailed || !strings.Contains(string(out), `"FAILED"`) {
		t.Errorf("upload of a broken file: exit %d, want %d; %s", code, exitFailed, out)
	}
	if code, out := run("upload", "--source-type", "nope", "--source-id", "u1", good); code != exitError || !strings.Contains(string(out), "UNKNOWN_SOURCE_TYPE") {
		t.Errorf("refused upload: exit %d, want %d; %s", code, exitError, out)
	}
	if code, out := run("status", "job_missing"); code != exitError || !strings.Contains(string(out), "JOB_NOT_FOUND") {
		t.Errorf("status of an unknown job: exit %d; %s", code, out)
	}
	if code, out := run("media", "list", "--source-type", "gallery", "--source-id", "u1"); code != 0 || !strings.Contains(string(out), done.Media.ID) {
		t.Errorf("media list: exit %d; %s", code, out)
	}
	if code, out := run("media", "get", done.Media.ID); code != 0 || !strings.Contains(string(out), `"aspectRatio": "3:2"`) {
		t.Errorf("media get: exit %d; %s", code, out)
	}
	if code, out := run("media", "delete", done.Media.ID); code != 0 {
		t.Errorf("media delete: exit %d; %s", code, out)
	}
	if code, out := run("media", "get", done.Media.ID); code != exitError || !strings.Contains(string(out), "MEDIA_NOT_FOUND") {
		t.Errorf("media get after delete: exit %d; %s", code, out)
	}
	for _, probe := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get("http://" + addr + probe)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d, want 200", probe, resp.StatusCode)
		}
	}
	if code, out := run("config"); code != 0 || !strings.Contains(string(out), `"variantPresets"`) {
		t.Errorf("config: exit %d; %s", code, out)
	}
	for _, sub := range [][]string{{"serve"}, {"worker"}, {"migrate"}, {"upload"}, {"status"}, {"media", "list"}, {"process"}} {
		if code, out := run(append(sub, "--help")...); code != 0 || !strings.Contains(string(out), "Usage:") {
			t.Errorf("%v --help: exit %d; %s", sub, code, out)
		}
	}
}

// TestStatusOfPendingJob: with no worker to take it, a job stays PENDING,
// and `status` without --wait asks once and reads it (the command exits 4).
func TestStatusOfPendingJob(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, err := ximagepipeline.New(context.Background(), ximagepipeline.Config{
		DataDir: dir, DisableWorkers: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	c := &client{server: srv.URL + ximagepipeline.DefaultPrefix, http: srv.Client()}
	img := filepath.Join(dir, "a.jpg")
	os.WriteFile(img, testimages.JPEG(testimages.Quadrants(80, 60), 90), 0o644)
	jobID, err := c.upload(context.Background(), img, "avatar", "u1")
	if err != nil {
		t.Fatal(err)
	}
	body, status, err := c.waitJob(context.Background(), jobID, 0)
	if err != nil || status != ximagepipeline.StatusPending || body["jobId"] != jobID {
		t.Fatalf("status of a queued job: %v %s %v, want PENDING", body, status, err)
	}
}

// The binary limits glibc malloc to one arena before any thread starts,
// unless the environment set MALLOC_ARENA_MAX (docs/performance.md).
func TestMallocArenasLimited(t *testing.T) {
	if os.Getenv("MALLOC_ARENA_MAX") != "" || !mallocIsGlibc {
		if mallocArenasLimited {
			t.Fatal("MALLOC_ARENA_MAX is set (or this is not glibc), yet the binary changed the arenas")
		}
		return
	}
	if !mallocArenasLimited {
		t.Fatal("the constructor did not limit the malloc arenas")
	}
}
