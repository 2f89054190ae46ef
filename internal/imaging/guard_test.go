package imaging

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/imagefile"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
	"github.com/ximagepipeline/ximagepipeline/media"
)

// Hostile sources are refused before libvips decodes them, with a reason;
// the same images within the limits are processed.
func TestProcessRefusesBeforeDecoding(t *testing.T) {
	t.Parallel()
	jpg := testimages.TaggedJPEG(testimages.Quadrants(64, 48), 1)
	for _, tc := range []struct {
		name string
		src  []byte
		want string // in the error; "" for success
	}{
		{"jpeg, scans at the limit", testimages.RepeatedScans(jpg, imagefile.MaxJPEGScans), ""},
		{"jpeg, scans over the limit", testimages.RepeatedScans(jpg, imagefile.MaxJPEGScans+1), fmt.Sprintf("progressive JPEG with %d scans (at most %d)", imagefile.MaxJPEGScans+1, imagefile.MaxJPEGScans)},
		{"png, taller than libvips decodes", testimages.HugePNG(1, imagefile.MaxPNGSide+1), fmt.Sprintf("PNG of 1x%d (libvips decodes at most %d pixels a side)", imagefile.MaxPNGSide+1, imagefile.MaxPNGSide)},
		{"webp, frames over the limit", animatedWebP(t, imagefile.MaxWebPFrames+1), fmt.Sprintf("animated WebP with %d frames (at most %d)", imagefile.MaxWebPFrames+1, imagefile.MaxWebPFrames)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(context.Background(), tc.src, media.SourceType{}, inside("sm", 32))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (!errors.Is(err, ErrUndecodable) || err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want ErrUndecodable with %q", err, tc.want)
			}
		})
	}
}

// animatedWebP returns a WebP container with n ANMF chunks of one lossless
// 1x1 frame each.
func animatedWebP(t *testing.T, n int) []byte {
	t.Helper()
	res, err := run(context.Background(), testimages.PNG(testimages.Quadrants(2, 2)), media.SourceType{}, inside("x", 1))
	if err != nil {
		t.Fatal(err)
	}
	still := res.Variants[0].Data[12:]              // the image chunk(s) of a simple WebP
	vp8x := []byte{0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0} // animation flag, 1x1 canvas
	body := testimages.WebPChunk("VP8X", vp8x)
	body = append(body, testimages.WebPChunk("ANIM", make([]byte, 6))...)
	frame := testimages.WebPChunk("ANMF", append([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0}, still...))
	for range n {
		body = append(body, frame...)
	}
	return testimages.WebPFile(body)
}

// A PNG's text chunks never reach libvips, which would inflate every zTXt
// into memory (imagefile's TestPNGTextRemoved checks the bytes): the
// pixels are the same without them, and the hostile file is processed.
func TestPNGTextRemovedBeforeDecoding(t *testing.T) {
	t.Parallel()
	src := testimages.PNG(testimages.Quadrants(40, 30)) // tEXt and iTXt after IHDR
	hostile := testimages.TextBombPNG(src, 20)
	got, err := imagefile.Guard("png", hostile)
	if err != nil {
		t.Fatal(err)
	}
	want := decodeForTest(t, src, 40)
	if d := meanDiff(decodeForTest(t, got, 40), want); d != 0 {
		t.Errorf("pixels differ by %.2f once the text is removed", d)
	}
	res, err := run(context.Background(), hostile, media.SourceType{}, inside("sm", 20))
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Variants[0]; v.Width != 20 || v.Height != 15 {
		t.Errorf("variant %dx%d, want 20x15", v.Width, v.Height)
	}
}

// A re-encoded original over MaxOriginalBytes is refused; one under it is
// kept.
func TestProcessOriginalLimit(t *testing.T) {
	t.Parallel()
	src := testimages.TaggedJPEG(testimages.Stored(testimages.Noise(300, 200, 7), 6), 6) // rotated: re-encoded
	st := media.SourceType{StoreOriginal: true}
	sm := inside("sm", 32)
	res, err := run(context.Background(), src, st, sm)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(res.Original.Data))
	if _, err := runWith(context.Background(), Config{MaxOriginalBytes: size}, src, st, sm); err != nil {
		t.Errorf("original of exactly the limit refused: %v", err)
	}
	_, err = runWith(context.Background(), Config{MaxOriginalBytes: size - 1}, src, st, sm)
	if want := fmt.Sprintf("over %d bytes", size-1); !errors.Is(err, ErrOriginalTooLarge) || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want ErrOriginalTooLarge with %q", err, want)
	}
}

// Mutated JPEGs (upright, rotated, greyscale; random bytes overwritten,
// cut short, a second copy of a segment) go through the whole of Process
// with a source type that takes every path of the reduction: a variant
// made while the JPEG decodes, others cut from it, a cover, the BlurHash.
// Whatever the bytes, Process returns outputs of sane sizes or an error; it
// never crashes or hangs. (Go's coverage-guided fuzzer stalls on this
// target, so the mutations are drawn from a fixed seed instead.)
func TestProcessMutatedJPEGs(t *testing.T) {
	t.Parallel()
	grey := image.NewGray(image.Rect(0, 0, 40, 30))
	for i := range grey.Pix {
		grey.Pix[i] = uint8(i * 5)
	}
	seeds := [][]byte{
		testimages.TaggedJPEG(testimages.Busy(64, 48, 1), 1),
		testimages.TaggedJPEG(testimages.Stored(testimages.Busy(64, 48, 2), 6), 6),
		testimages.TaggedJPEG(grey, 3),
	}
	p, err := NewProcessor(Config{
		Variants: map[string]media.VariantSpec{
			"lg": {Width: 50, Fit: media.FitInside},
			"md": {Width: 21, Fit: media.FitInside},
			"sq": {Width: 9, Height: 9, Fit: media.FitCover},
		},
		MaxPixels: 1 << 16, // 256x256: every input stays quick
	})
	if err != nil {
		t.Fatal(err)
	}
	st := media.SourceType{Variants: []string{"lg", "md", "sq"}, Quality: 60}
	r := rand.New(rand.NewPCG(42, 6))
	ok := 0
	for i := range 600 {
		seed := seeds[i%len(seeds)]
		b := append([]byte(nil), seed...)
		switch i % 4 {
		case 0, 1: // overwrite a few bytes, often in the headers
			for range 1 + r.IntN(4) {
				at := r.IntN(len(b))
				if r.IntN(2) == 0 {
					at = r.IntN(min(len(b), 600))
				}
				b[at] = byte(r.IntN(256))
			}
		case 2: // cut short
			b = b[:r.IntN(len(b))]
		case 3: // repeat a stretch
			from := r.IntN(len(b))
			to := min(len(b), from+1+r.IntN(200))
			b = append(b[:to:to], append(append([]byte(nil), b[from:to]...), b[to:]...)...)
		}
		res, err := p.Process(t.Context(), b, st)
		if err != nil {
			continue
		}
		ok++
		for _, v := range res.Variants {
			if v.Width < 1 || v.Height < 1 || v.Width > 256 || v.Height > 256 || len(v.Data) == 0 {
				t.Fatalf("input %d: variant %s is %dx%d, %d bytes", i, v.Name, v.Width, v.Height, len(v.Data))
			}
		}
	}
	if ok == 0 {
		t.Fatal("every mutated input failed: the mutations never reached the decoder")
	}
	t.Logf("%d of 600 mutated inputs processed, the rest refused", ok)
}
