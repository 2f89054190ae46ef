package imagefile

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// testImagesDir holds the shared real-world images (see its ATTRIBUTION.md).
const testImagesDir = "../../../shared/testdata/images"

// readTestImage returns a shared test image, skipping the test when the
// shared folder is absent (e.g. the module checked out on its own).
func readTestImage(tb testing.TB, name string) []byte {
	tb.Helper()
	if _, err := os.Stat(testImagesDir); err != nil {
		tb.Skipf("shared test images not found at %s (they live beside the module in the project workspace): %v", testImagesDir, err)
	}
	b, err := os.ReadFile(filepath.Join(testImagesDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// readOptional returns a shared test image, or nil when absent.
func readOptional(name string) []byte {
	b, _ := os.ReadFile(filepath.Join(testImagesDir, name))
	return b
}

// webpChunk is a RIFF chunk of a WebP file, padded to an even size.
func webpChunk(fourcc string, data []byte) []byte {
	c := append([]byte(fourcc), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	c = append(c, data...)
	if len(data)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

// webpFile wraps the chunks of body (after "WEBP") in a RIFF header.
func webpFile(body []byte) []byte {
	body = append([]byte("WEBP"), body...)
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}
