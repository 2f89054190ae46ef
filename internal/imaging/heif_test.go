package imaging

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/imagefile"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
	"github.com/ximagepipeline/ximagepipeline/internal/vips"
	"github.com/ximagepipeline/ximagepipeline/media"
)

// heifSources returns a generated quadrants picture encoded as AVIF and as
// HEIC by libvips' heifsave, and the shared pitm.avif when present.
func heifSources(t *testing.T) map[string][]byte {
	t.Helper()
	buf := vips.NewBuffer(testimages.PNG(testimages.Quadrants(120, 80)))
	defer buf.Free()
	img, err := vips.Decode(buf, "png", 120, vips.PlainRGB)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	srcs := map[string][]byte{}
	for _, f := range []string{"avif", "heic"} {
		b, err := img.Encode(f, 90, 0)
		if f == "heic" && err != nil && strings.Contains(err.Error(), "Unsupported compression") {
			// The prebuilt libvips (make build-fast) has libheif without an
			// HEVC codec: it reads and writes AVIF only.
			t.Logf("no HEIC source: this libvips cannot encode HEVC (%v)", err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		srcs[f] = b
	}
	if b := testimages.SharedOptional(t, "pitm.avif"); b != nil {
		srcs["pitm.avif"] = b
	}
	return srcs
}

// TestProcessHEIFInput: AVIF and HEIC uploads are processed by a
// processor that allows them.
func TestProcessHEIFInput(t *testing.T) {
	t.Parallel()
	for name, src := range heifSources(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res, err := run(context.Background(), src, media.SourceType{}, testVariants...)
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

// TestProcessHEIFDisabled: in a process where no processor allows AVIF or
// HEIC, they are refused as undecodable, and libvips' HEIF loader itself
// is blocked.
func TestProcessHEIFDisabled(t *testing.T) {
	if !inFreshProcess(t) {
		return
	}
	srcs := heifSources(t)
	p, err := NewProcessor(Config{Variants: map[string]media.VariantSpec{"md": {Width: 400}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, src := range srcs {
		if _, err := p.Process(context.Background(), src, media.SourceType{Variants: []string{"md"}}); !errors.Is(err, ErrUndecodable) {
			t.Errorf("%s: got %v, want ErrUndecodable", name, err)
		}
		// Even a caller that skipped the processor's check meets the blocked loader.
		buf := vips.NewBuffer(src)
		if _, err := vips.ReadHeader(buf, "avif"); err == nil {
			t.Errorf("%s: libvips read the header although HEIF is blocked", name)
		}
		buf.Free()
	}
}

// TestProcessorsKeepTheirOwnTypes: libvips is one per process, and the
// first pipeline's settings used to be every pipeline's. In a fresh
// process, a default processor (the first to start libvips) and then one
// allowing JPEG and AVIF: the second decodes AVIF, the first still refuses
// it, with the message the worker records. Neither decodes what it does
// not list, although libheif's loader is unblocked for the process: the
// second refuses HEIC, PNG, and an AVIF-branded file coded in HEVC.
func TestProcessorsKeepTheirOwnTypes(t *testing.T) {
	if !inFreshProcess(t) {
		return
	}
	variants := map[string]media.VariantSpec{"md": {Width: 400}}
	st := media.SourceType{Variants: []string{"md"}}
	first, err := NewProcessor(Config{Variants: variants})
	if err != nil {
		t.Fatal(err)
	}
	second, err := NewProcessor(Config{Variants: variants, AllowedTypes: []string{"image/jpeg", "image/avif"}})
	if err != nil {
		t.Fatal(err)
	}
	srcs := heifSources(t)
	res, err := second.Process(context.Background(), srcs["avif"], st)
	if err != nil {
		t.Fatalf("the pipeline allowing AVIF: %v", err)
	}
	if res.Source.Format != "avif" || res.Width != 120 || res.Height != 80 {
		t.Errorf("source %+v, %dx%d; want avif 120x80", res.Source, res.Width, res.Height)
	}
	if _, err := second.Process(context.Background(), testimages.TaggedJPEG(testimages.Quadrants(60, 40), 1), st); err != nil {
		t.Errorf("the pipeline allowing JPEG: %v", err)
	}

	// HEIC's brand replaced by AVIF's: it sniffs as AVIF, libheif would
	// decode it with its HEVC decoder.
	disguised := bytes.Clone(srcs["heic"])
	copy(disguised[8:12], "avif")
	if got := imagefile.Sniff(disguised); got != "image/avif" {
		t.Fatalf("the disguised HEIC sniffs as %s", got)
	}
	for _, tc := range []struct {
		name string
		p    *Processor
		src  []byte
		want string
	}{
		{"avif by the default pipeline", first, srcs["avif"], "avif input is not enabled"},
		{"heic by the jpeg+avif pipeline", second, srcs["heic"], "heic input is not enabled"},
		{"png by the jpeg+avif pipeline", second, testimages.PNG(testimages.Quadrants(60, 40)), "png input is not enabled"},
		{"hevc in an avif file by the jpeg+avif pipeline", second, disguised, "avif file coded as hvc1, which is not enabled"},
	} {
		_, err := tc.p.Process(context.Background(), tc.src, st)
		if !errors.Is(err, ErrUndecodable) || !strings.HasSuffix(err.Error(), ": "+tc.want) {
			t.Errorf("%s: %v, want ErrUndecodable ending %q", tc.name, err, tc.want)
		}
		if _, err := tc.p.ModerationImage(tc.src, 512); !errors.Is(err, ErrUndecodable) {
			t.Errorf("%s, moderation image: %v, want ErrUndecodable", tc.name, err)
		}
	}
}

// inFreshProcess runs the calling test again in a new process of the test
// binary, in which TestMain leaves libvips alone, and reports whether this
// is that run: the test does its work then only.
func inFreshProcess(t *testing.T) bool {
	t.Helper()
	if os.Getenv(freshEnv) != "" {
		return true
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), freshEnv+"=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("in a fresh process: %v\n%s", err, out)
	}
	return false
}
