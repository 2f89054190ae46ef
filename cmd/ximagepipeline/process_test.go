package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// TestProcessNamesWrittenFiles: every output process reports for an image
// is a file it wrote under --out, by the same name (original.jpg for a
// JPEG, as storage names it, not original.jpeg).
func TestProcessNamesWrittenFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "photo.jpg")
	if err := os.WriteFile(src, testimages.JPEG(testimages.Quadrants(600, 400), 90), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	var stdout bytes.Buffer
	if err := process(context.Background(), &stdout, ximagepipeline.Config{}, "gallery", []string{src}, 1, 1, out); err != nil {
		t.Fatal(err)
	}
	var line processLine
	if err := json.NewDecoder(&stdout).Decode(&line); err != nil {
		t.Fatalf("first line of %q: %v", stdout.String(), err)
	}
	if _, ok := line.Bytes["original.jpg"]; !ok || len(line.Bytes) != 4 {
		t.Errorf("outputs %v, want md, lg, xl and original.jpg", line.Bytes)
	}
	for name, n := range line.Bytes {
		fi, err := os.Stat(filepath.Join(out, "photo.jpg", name))
		if err != nil {
			t.Errorf("process reported %s: %v", name, err)
		} else if fi.Size() != int64(n) {
			t.Errorf("%s: reported %d bytes, wrote %d", name, n, fi.Size())
		}
		if _, ok := line.Sizes[name]; !ok {
			t.Errorf("%s has bytes but no size in %v", name, line.Sizes)
		}
	}
}
