package imaging

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/color"
	"image/gif"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
	"github.com/ximagepipeline/ximagepipeline/internal/vips"
	"github.com/ximagepipeline/ximagepipeline/media"
)

// frameColours are the backgrounds of animatedGIF's frames.
var frameColours = []color.RGBA{{220, 30, 30, 255}, {30, 200, 30, 255}, {30, 30, 220, 255}}

// animatedGIF is a 120x90 GIF of len(frameColours) frames, one flat
// colour each, shown 10, 20, 30... centiseconds.
func animatedGIF(t testing.TB) []byte {
	t.Helper()
	pal := color.Palette{}
	for _, c := range frameColours {
		pal = append(pal, c)
	}
	var g gif.GIF
	for i := range frameColours {
		f := image.NewPaletted(image.Rect(0, 0, 120, 90), pal)
		for p := range f.Pix {
			f.Pix[p] = uint8(i)
		}
		g.Image = append(g.Image, f)
		g.Delay = append(g.Delay, 10*(i+1))
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, &g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// webpFrame is one ANMF chunk's header.
type webpFrame struct{ W, H, Duration int }

// webpFrames parses a WebP's chunks: whether it has an ANIM chunk, and
// its ANMF frames.
func webpFrames(t *testing.T, data []byte) (anim bool, frames []webpFrame) {
	t.Helper()
	u24 := func(b []byte) int { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 }
	for i := 12; i+8 <= len(data); {
		n := int(binary.LittleEndian.Uint32(data[i+4:]))
		if i+8+n > len(data) {
			t.Fatalf("webp chunk %q overruns the file", data[i:i+4])
		}
		switch p := data[i+8 : i+8+n]; string(data[i : i+4]) {
		case "ANIM":
			anim = true
		case "ANMF":
			frames = append(frames, webpFrame{W: u24(p[6:]) + 1, H: u24(p[9:]) + 1, Duration: u24(p[12:])})
		}
		i += 8 + n + n&1
	}
	return anim, frames
}

// TestProcessAnimated checks animated WebP output: on only when asked,
// capped at the source type's MaxFrames, every frame cut like a still, timing kept.
func TestProcessAnimated(t *testing.T) {
	t.Parallel()
	src := animatedGIF(t)
	variants := []media.Variant{cover("sm", 60, 60), inside("md", 100)}
	sizes := []size{{60, 60}, {100, 75}}
	tests := []struct {
		name   string
		st     media.SourceType
		frames int // in the WebP variants
	}{
		{"first frame by default", media.SourceType{}, 1},
		{"animated", media.SourceType{Animated: true}, 3},
		{"animated, capped", media.SourceType{Animated: true, MaxFrames: 2}, 2},
		{"animated, with avif", media.SourceType{Animated: true, Formats: []string{"webp", "avif"}}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := tc.st
			st.StoreOriginal = true
			res, err := run(context.Background(), src, st, variants...)
			if err != nil {
				t.Fatal(err)
			}
			if res.Source.Frames != 3 || res.Width != 120 || res.Height != 90 {
				t.Errorf("source %+v %dx%d, want 3 frames of 120x90", res.Source, res.Width, res.Height)
			}
			for _, o := range res.Variants {
				want := sizes[0]
				if o.Name == "md" {
					want = sizes[1]
				}
				checkOutput(t, o, o.Format, want)
				frames := tc.frames
				if o.Format == "avif" {
					frames = 1 // AVIF variants are stills
				}
				if o.Frames != frames {
					t.Errorf("%s.%s: %d frames, want %d", o.Name, o.Format, o.Frames, frames)
				}
				if o.Format == "webp" {
					checkWebPAnimation(t, o, frames)
				}
			}
			// The original is the source's own bytes, every frame kept.
			if o := res.Original; o == nil || o.Frames != 3 || !bytes.Equal(o.Data, src) {
				t.Errorf("original %d frames, %d bytes; want the 3-frame source", o.Frames, len(o.Data))
			}
		})
	}

	// An animated WebP source (one of the outputs above) keeps its frames too.
	first, err := run(context.Background(), src, media.SourceType{Animated: true}, variants[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	res, err := run(context.Background(), first.Variants[0].Data, media.SourceType{Animated: true}, variants[:1]...)
	if err != nil {
		t.Fatal(err)
	}
	if res.Source.Format != "webp" || res.Source.Frames != 3 {
		t.Errorf("animated WebP source read as %+v", res.Source)
	}
	checkWebPAnimation(t, res.Variants[0], 3)

	// Frames x decoded size is bounded too: 5 frames of 2000x2000 decoded
	// at full size hold 20 MP, over maxAnimationPixels (16 MP): 4 are kept.
	big := func() []byte {
		var g gif.GIF
		for i := range 5 {
			f := image.NewPaletted(image.Rect(0, 0, 2000, 2000), color.Palette{frameColours[0], frameColours[1]})
			for p := range f.Pix {
				f.Pix[p] = uint8(i % 2)
			}
			g.Image, g.Delay = append(g.Image, f), append(g.Delay, 10)
		}
		var b bytes.Buffer
		if err := gif.EncodeAll(&b, &g); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}()
	res, err = run(context.Background(), big, media.SourceType{Animated: true}, inside("full", 2000))
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Variants[0]; v.Frames != 4 || v.Width != 2000 || v.Height != 2000 {
		t.Errorf("5 frames of 2000x2000: %d frames of %dx%d, want 4 of 2000x2000", v.Frames, v.Width, v.Height)
	}

	// A real GIF (10 frames with transparency), capped at 4 frames.
	real, err := run(context.Background(), testimages.Shared(t, "animated-loop-3.gif"), media.SourceType{Animated: true, MaxFrames: 4}, inside("md", 200))
	if err != nil {
		t.Fatal(err)
	}
	v := real.Variants[0]
	if anim, anmf := webpFrames(t, v.Data); !anim || len(anmf) != 4 || v.Frames != 4 || v.Width != 200 || v.Height != 154 {
		t.Errorf("animated-loop-3.gif: %dx%d, %d frames (ANIM=%v, %d ANMF), want 200x154 and 4", v.Width, v.Height, v.Frames, anim, len(anmf))
	}
	assertNoMetadata(t, "webp", v.Data)
}

// checkWebPAnimation checks o is a WebP with the given frames (an ANIM
// chunk and one ANMF each when more than one), each of o's size, shown
// for the source frames' durations and in their colours.
func checkWebPAnimation(t *testing.T, o Output, frames int) {
	t.Helper()
	anim, anmf := webpFrames(t, o.Data)
	if frames == 1 {
		if anim || len(anmf) > 0 {
			t.Errorf("%s: still wanted, got ANIM=%v and %d ANMF", o.Name, anim, len(anmf))
		}
		return
	}
	if !anim || len(anmf) != frames {
		t.Fatalf("%s: ANIM=%v and %d ANMF frames, want %d", o.Name, anim, len(anmf), frames)
	}
	for i, f := range anmf {
		// libwebp may store a frame as the rectangle that changed; ours are
		// all-different flat colours, so every frame is whole.
		if f.W != o.Width || f.H != o.Height || f.Duration != 100*(i+1) {
			t.Errorf("%s frame %d: %dx%d for %d ms, want %dx%d for %d ms", o.Name, i, f.W, f.H, f.Duration, o.Width, o.Height, 100*(i+1))
		}
	}
	// Decode every frame and check its colour.
	buf := vips.NewBuffer(o.Data)
	defer buf.Free()
	img, a, err := vips.DecodeFrames(buf, "webp", o.Width, vips.PlainRGB, frames)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if a.Pages != frames || a.PageHeight != o.Height {
		t.Fatalf("%s decodes to %d frames of height %d, want %d of %d", o.Name, a.Pages, a.PageHeight, frames, o.Height)
	}
	px, err := img.Pixels()
	if err != nil {
		t.Fatal(err)
	}
	rgba := onWhite(px, img.Width(), img.Height(), img.Bands())
	for i := range frames {
		got, want := rgba.RGBAAt(o.Width/2, i*o.Height+o.Height/2), frameColours[i]
		if max(absDiff(got.R, want.R), absDiff(got.G, want.G), absDiff(got.B, want.B)) > 30 {
			t.Errorf("%s frame %d is %v, want %v", o.Name, i, got, want)
		}
	}
}
