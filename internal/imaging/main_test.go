package imaging

import (
	"os"
	"testing"
)

// noHEIFEnv, when set, makes the test binary start libvips without HEIF:
// TestProcessHEIFDisabled runs itself again that way, since the first
// Start of a process wins.
const noHEIFEnv = "IMAGING_TEST_NO_HEIF"

// TestMain starts libvips once with HEIF allowed, so that the AVIF tests
// run whatever order the parallel tests start in.
func TestMain(m *testing.M) {
	Start(Config{AllowHEIF: os.Getenv(noHEIFEnv) == ""})
	os.Exit(m.Run())
}
