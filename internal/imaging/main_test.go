package imaging

import (
	"os"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/vips"
)

// freshEnv, when set, makes the test binary leave libvips alone until a
// test starts it: inFreshProcess runs a test again that way, for tests of
// what the first processor of a process sets up.
const freshEnv = "IMAGING_TEST_FRESH"

// TestMain unblocks the HEIF loader, so that the tests can decode the AVIF
// outputs they make whatever order they run in.
func TestMain(m *testing.M) {
	if os.Getenv(freshEnv) == "" {
		if err := vips.EnableLoader("avif"); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
