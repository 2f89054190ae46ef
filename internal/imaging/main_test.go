package imaging

import (
	"os"
	"testing"
)

// TestMain starts libvips once with HEIF allowed, so that the AVIF tests
// run whatever order the parallel tests start in.
func TestMain(m *testing.M) {
	Start(Config{AllowHEIF: true})
	os.Exit(m.Run())
}
