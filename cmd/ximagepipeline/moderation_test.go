package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestModerationStateShown: serve and worker log one line at start saying
// whether moderation is on, with which provider and policies, and serve's
// /readyz shows the same beside its readiness.
func TestModerationStateShown(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)

	t.Run("serve without moderation", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t, bin, nil, "--data-dir", t.TempDir(), "--workers=false", "--log-level", "info")
		assertReadyz(t, srv, `{"status": "ready", "workers": false, "moderation": {"on": false}}`)
		assertModerationLine(t, srv, "serving", `{"level": "INFO", "msg": "moderation off"}`)
	})

	t.Run("serve with http and policies", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		config := filepath.Join(dir, "config.yaml")
		os.WriteFile(config, []byte(`
sourceTypes:
  avatar: {variants: [xs, sm], moderation: {reject: [explicit], failOpen: true}}
  gallery: {variants: [md]}
  hero: {variants: [lg], moderation: {disabled: true}}
`), 0o644)
		srv := startServer(t, bin, []string{"MODERATION_MIN_CONFIDENCE=0.8"}, "--data-dir", filepath.Join(dir, "data"),
			"--config", config, "--log-level", "info", "--moderation", "http",
			"--moderation-url", "http://127.0.0.1:8790/classify", "--moderation-reject", "explicit,suggestive")
		const state = `{"on": true, "provider": "http",
			"policy": {"reject": ["explicit", "suggestive"], "minConfidence": 0.8, "failOpen": false},
			"sourceTypes": {"avatar": {"reject": ["explicit"], "failOpen": true}, "hero": {"disabled": true}}}`
		assertReadyz(t, srv, `{"status": "ready", "workers": true, "moderation": `+state+`}`)
		assertModerationLine(t, srv, "serving", `{"level": "INFO", "msg": "moderation on", "provider": "http",
			"policy": {"reject": ["explicit", "suggestive"], "minConfidence": 0.8, "failOpen": false},
			"sourceTypes": {"avatar": {"reject": ["explicit"], "failOpen": true}, "hero": {"disabled": true}}}`)
	})

	t.Run("worker with rekognition", func(t *testing.T) {
		t.Parallel()
		// The provider is built at start (no request is sent before a job).
		env := []string{"AWS_EC2_METADATA_DISABLED=true", "AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret"}
		worker := startProcess(t, bin, env, "worker", "--data-dir", t.TempDir(), "--log-level", "info",
			"--moderation", "rekognition", "--moderation-region", "eu-west-1", "--moderation-fail-open")
		assertModerationLine(t, worker, "worker started", `{"level": "INFO", "msg": "moderation on", "provider": "rekognition",
			"policy": {"reject": [], "minConfidence": 0, "failOpen": true}}`)
	})
}

// assertReadyz checks the JSON body of s's /readyz against want.
func assertReadyz(t *testing.T, s *server, want string) {
	t.Helper()
	resp, err := http.Get("http://" + s.addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("/readyz: %d %s, want 200 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	assertSameJSON(t, "/readyz", body, want)
}

// assertModerationLine waits for the log line whose message is after (which
// follows the moderation line), then checks that exactly one line speaks of
// moderation, and that it says want (its time aside).
func assertModerationLine(t *testing.T, s *server, after, want string) {
	t.Helper()
	var found []map[string]any
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		found = nil
		seen := false
		for line := range strings.Lines(s.log.String()) {
			var entry map[string]any
			if json.Unmarshal([]byte(line), &entry) != nil {
				continue
			}
			msg, _ := entry["msg"].(string)
			seen = seen || msg == after
			if strings.HasPrefix(msg, "moderation") {
				delete(entry, "time")
				found = append(found, entry)
			}
		}
		if seen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line %q within 30s", after)
		}
	}
	if len(found) != 1 {
		t.Fatalf("log lines about moderation: %v, want exactly one", found)
	}
	got, _ := json.Marshal(found[0])
	assertSameJSON(t, "the moderation log line", got, want)
}

// assertSameJSON compares got with want as JSON values, whatever the spacing
// and key order.
func assertSameJSON(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %s is not JSON: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want of %s: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n%s\nwant\n%s", what, got, want)
	}
}
