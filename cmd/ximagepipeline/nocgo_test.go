package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// TestAPIServerWithoutCgo: the binary builds with CGO_ENABLED=0 and, so
// built, is an API server: serve runs without workers, takes an upload
// (its checks need no libvips), and a worker of the cgo build on the same
// database and storage completes the job. Such a binary refuses to run
// workers, saying why.
func TestAPIServerWithoutCgo(t *testing.T) {
	t.Parallel()
	apiOnly := buildBinary(t, "CGO_ENABLED=0")
	full := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")

	api := startServer(t, apiOnly, nil, "--data-dir", data)
	assertReadyz(t, api, `{"status":"ready","workers":false,"moderation":{"on":false}}`)
	jobID := uploadAccepted(t, api.base(), testimages.JPEG(testimages.Quadrants(120, 80), 90))
	if code, body := getStatus(t, api.base(), jobID, ""); code != 202 || body["status"] != "PENDING" {
		t.Fatalf("status without a worker: %d %v, want 202 PENDING", code, body)
	}
	startProcess(t, full, nil, "worker", "--data-dir", data)
	assertComplete(t, api, jobID, "30s", "once a worker of the cgo build runs")

	for _, args := range [][]string{
		{"worker", "--data-dir", filepath.Join(t.TempDir(), "w")},
		{"serve", "--workers", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "s")},
	} {
		var stderr bytes.Buffer
		cmd := exec.Command(apiOnly, args...)
		cmd.Stderr = &stderr
		err := cmd.Run()
		if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 || !strings.Contains(stderr.String(), "this build cannot process images: it was built without cgo") {
			t.Errorf("%s with the build without cgo: exit %d, %q; want 1 and why", args[0], code, stderr.String())
		}
	}
}

// TestWorkerWithoutCgoTouchesNothing: a build without cgo refuses to run
// workers before it opens anything: no data directory made, no database
// created or migrated (in a fleet, the shared PostgreSQL database of
// servers still running an older schema).
func TestWorkerWithoutCgoTouchesNothing(t *testing.T) {
	t.Parallel()
	apiOnly := buildBinary(t, "CGO_ENABLED=0")
	for _, args := range [][]string{{"worker"}, {"serve", "--workers", "--addr", "127.0.0.1:0"}} {
		data := filepath.Join(t.TempDir(), "data")
		var stderr bytes.Buffer
		cmd := exec.Command(apiOnly, append(args, "--data-dir", data)...)
		cmd.Stderr = &stderr
		err := cmd.Run()
		if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 || !strings.Contains(stderr.String(), "this build cannot process images") {
			t.Errorf("%s: exit %d, %q; want 1 and why", args[0], code, stderr.String())
		}
		if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s refused to run workers but made %s first (%v): its database was created and migrated", args[0], data, err)
		}
	}
}
