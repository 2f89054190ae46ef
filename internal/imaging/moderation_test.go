package imaging

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/imagefile"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// TestModerationImage checks what a moderator is shown: upright, bounded
// by maxSide and never enlarged, a JPEG without metadata, alpha on white.
func TestModerationImage(t *testing.T) {
	t.Parallel()
	p, err := NewProcessor(Config{})
	if err != nil {
		t.Fatal(err)
	}
	transparent := image.NewNRGBA(image.Rect(0, 0, 300, 200))
	for i := 3; i < len(transparent.Pix); i += 4 {
		transparent.Pix[i] = 0 // fully transparent: must become white, not black
	}
	tests := []struct {
		name         string
		src          []byte
		maxSide      int
		wantW, wantH int
	}{
		{"landscape shrunk", testimages.TaggedJPEG(testimages.Quadrants(1200, 800), 1), 512, 512, 341},
		{"portrait shrunk", testimages.TaggedJPEG(testimages.Quadrants(800, 1200), 1), 512, 341, 511}, // 1200 * 341/800, rounded
		{"rotated 6 swaps axes", testimages.TaggedJPEG(testimages.Stored(testimages.Quadrants(1200, 800), 6), 6), 512, 512, 341},
		{"rotated 8 swaps axes", testimages.TaggedJPEG(testimages.Stored(testimages.Quadrants(800, 1200), 8), 8), 300, 200, 300},
		{"small never enlarged", testimages.TaggedJPEG(testimages.Stored(testimages.Quadrants(120, 90), 3), 3), 512, 120, 90},
		{"png with alpha", testimages.PNG(transparent), 512, 300, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := p.ModerationImage(tt.src, tt.maxSide)
			if err != nil {
				t.Fatal(err)
			}
			if imagefile.Sniff(out) != "image/jpeg" {
				t.Fatalf("output is %s, want image/jpeg", imagefile.Sniff(out))
			}
			assertNoMetadata(t, "jpeg", out)
			img, err := jpeg.Decode(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != tt.wantW || b.Dy() != tt.wantH {
				t.Fatalf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), tt.wantW, tt.wantH)
			}
			if tt.name == "png with alpha" {
				assertNear(t, img.At(150, 100), color.RGBA{255, 255, 255, 255})
				return
			}
			// Upright: the four quadrants are where the picture has them.
			w, h := img.Bounds().Dx(), img.Bounds().Dy()
			for q, at := range [4]image.Point{{w / 4, h / 4}, {3 * w / 4, h / 4}, {w / 4, 3 * h / 4}, {3 * w / 4, 3 * h / 4}} {
				assertNear(t, img.At(at.X, at.Y), quadrantColours[q])
			}
		})
	}
}

func TestModerationImageRefusesUndecodable(t *testing.T) {
	t.Parallel()
	p, err := NewProcessor(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string][]byte{
		"text":      []byte("not an image at all"),
		"truncated": testimages.TaggedJPEG(testimages.Quadrants(64, 64), 1)[:300],
	} {
		if _, err := p.ModerationImage(src, 512); !errors.Is(err, ErrUndecodable) {
			t.Errorf("%s: err = %v, want ErrUndecodable", name, err)
		}
	}
}

func assertNear(t *testing.T, got color.Color, want color.RGBA) {
	t.Helper()
	r, g, b, _ := got.RGBA()
	d := max(absDiff(uint8(r>>8), want.R), absDiff(uint8(g>>8), want.G), absDiff(uint8(b>>8), want.B))
	if d > 12 {
		t.Errorf("colour %v, want about %v", []uint32{r >> 8, g >> 8, b >> 8}, want)
	}
}
