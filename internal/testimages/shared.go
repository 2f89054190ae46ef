package testimages

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// The project's real-world test images (orientations, CMYK, 16-bit,
// animations, broken files, the benchmark photo) are not in the module:
// the project workspace, and CI, keep them in shared/testdata/images beside
// the module's folder. Tests that use them skip, saying so, where they are
// absent; the images they make themselves cover the same ground.

// SharedDir is the folder of the shared images: $XIP_TESTDATA when set (a
// checkout elsewhere, a git worktree), else shared/testdata/images beside
// the folder of the module's go.mod. "" when it does not exist.
var SharedDir = sync.OnceValue(func() string {
	if dir := os.Getenv("XIP_TESTDATA"); dir != "" {
		return existing(dir)
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return existing(filepath.Join(dir, "..", "shared", "testdata", "images"))
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
})

func existing(dir string) string {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return ""
	}
	return dir
}

// Shared returns a shared image, skipping the test, with the reason, when
// the folder is absent.
func Shared(tb testing.TB, name string) []byte {
	tb.Helper()
	b := SharedOptional(tb, name)
	if b == nil {
		tb.Skipf("%s: the shared test images are absent (shared/testdata/images beside the module, or $XIP_TESTDATA)", name)
	}
	return b
}

// SharedOptional returns a shared image, or nil when the folder is absent
// (for a test with more to check than that image; it logs the absence).
func SharedOptional(tb testing.TB, name string) []byte {
	tb.Helper()
	dir := SharedDir()
	if dir == "" {
		tb.Logf("%s: the shared test images are absent; that case is skipped", name)
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
