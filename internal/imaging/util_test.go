package imaging

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// testImagesDir holds the shared real-world images (see its ATTRIBUTION.md).
const testImagesDir = "../../../shared/testdata/images"

// testImage returns the path of a shared test image, skipping the test
// when the shared folder is absent (e.g. the module checked out alone).
func testImage(tb testing.TB, name string) string {
	tb.Helper()
	if _, err := os.Stat(testImagesDir); err != nil {
		tb.Skipf("shared test images not found at %s (they live beside the module in the project workspace): %v", testImagesDir, err)
	}
	return filepath.Join(testImagesDir, name)
}
