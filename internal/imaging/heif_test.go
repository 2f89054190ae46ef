package imaging

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// heifSources returns a generated quadrants picture encoded as AVIF and as
// HEIC by libvips' heifsave, and the shared pitm.avif when present.
func heifSources(t *testing.T) map[string][]byte {
	t.Helper()
	buf := newCBuffer(testimages.PNG(testimages.Quadrants(120, 80)))
	defer buf.free()
	img, err := decode(buf, 120, plainRGB)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	srcs := map[string][]byte{}
	for _, f := range []string{"avif", "heic"} {
		b, err := img.Encode(f, 90, 0)
		if f == "heic" && err != nil && strings.Contains(err.Error(), "Unsupported compression") {
			// The prebuilt libvips (make build-fast) has libheif without
			// an HEVC codec: it reads and writes AVIF only.
			t.Logf("no HEIC source: this libvips cannot encode HEVC (%v)", err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		srcs[f] = b
	}
	if b := readOptional("pitm.avif"); b != nil {
		srcs["pitm.avif"] = b
	}
	return srcs
}

// TestProcessHEIFInput: AVIF and HEIC uploads are processed when HEIF is
// enabled (TestMain enables it).
func TestProcessHEIFInput(t *testing.T) {
	t.Parallel()
	for name, src := range heifSources(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res, err := Process(context.Background(), src, Options{Variants: testVariants})
			if err != nil {
				t.Fatal(err)
			}
			if name == "pitm.avif" {
				if res.Source.Format != "avif" || res.Width != 4096 || res.Height != 800 {
					t.Errorf("source %+v, %dx%d; want avif 4096x800", res.Source, res.Width, res.Height)
				}
				return
			}
			if res.Source.Format != name || res.Width != 120 || res.Height != 80 {
				t.Errorf("source %+v, %dx%d; want %s 120x80", res.Source, res.Width, res.Height, name)
			}
			for i, v := range res.Variants {
				checkOutput(t, v, "webp", []size{{64, 64}, {80, 80}, {120, 80}}[i])
				checkUpright(t, v)
			}
		})
	}
}

// TestProcessHEIFDisabled: without AllowHEIF, AVIF and HEIC are refused as
// undecodable, and libvips' HEIF loader itself is blocked. It runs the
// test binary again with HEIF off, since libvips starts once per process.
func TestProcessHEIFDisabled(t *testing.T) {
	if os.Getenv(noHEIFEnv) == "" {
		t.Parallel()
		cmd := exec.Command(os.Args[0], "-test.run=^TestProcessHEIFDisabled$", "-test.count=1")
		cmd.Env = append(os.Environ(), noHEIFEnv+"=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("with HEIF disabled: %v\n%s", err, out)
		}
		return
	}
	for name, src := range heifSources(t) {
		if _, err := Process(context.Background(), src, Options{Variants: testVariants}); !errors.Is(err, ErrUndecodable) {
			t.Errorf("%s: got %v, want ErrUndecodable", name, err)
		}
		// Even a caller that skipped Process's check meets the blocked loader.
		buf := newCBuffer(src)
		if _, err := readVipsHeader(buf); err == nil {
			t.Errorf("%s: libvips read the header although HEIF is blocked", name)
		}
		buf.free()
	}
}
