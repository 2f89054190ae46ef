package imaging

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
	"github.com/ximagepipeline/ximagepipeline/media"
)

// iccpChunk returns the whole iCCP chunk (length, type, data, CRC) of a PNG.
func iccpChunk(t *testing.T, src []byte) []byte {
	t.Helper()
	for i := 8; i+12 <= len(src); {
		n := int(binary.BigEndian.Uint32(src[i:]))
		if string(src[i+4:i+8]) == "iCCP" {
			return src[i : i+12+n]
		}
		i += 12 + n
	}
	t.Fatal("no iCCP chunk")
	return nil
}

// withChunk inserts a PNG chunk right after IHDR.
func withChunk(src, chunk []byte) []byte {
	ihdrEnd := 8 + 12 + 13
	return append(append(append([]byte{}, src[:ihdrEnd]...), chunk...), src[ihdrEnd:]...)
}

// p3ToSRGB converts an 8-bit Display P3 colour to 8-bit sRGB: both use the
// sRGB transfer curve and the D65 white point, so it is a matrix between
// linear values (P3 to XYZ, then XYZ to sRGB), clipped to the sRGB gamut.
func p3ToSRGB(c [3]float64) [3]float64 {
	lin := func(v float64) float64 {
		v /= 255
		if v <= 0.04045 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	enc := func(v float64) float64 {
		v = min(1, max(0, v))
		if v <= 0.0031308 {
			return 255 * 12.92 * v
		}
		return 255 * (1.055*math.Pow(v, 1/2.4) - 0.055)
	}
	r, g, b := lin(c[0]), lin(c[1]), lin(c[2])
	x := 0.4865709*r + 0.2656677*g + 0.1982173*b
	y := 0.2289746*r + 0.6917385*g + 0.0792869*b
	z := 0.0000000*r + 0.0451134*g + 1.0439444*b
	return [3]float64{
		enc(3.2404542*x - 1.5371385*y - 0.4985314*z),
		enc(-0.9692660*x + 1.8760108*y + 0.0415560*z),
		enc(0.0556434*x - 0.2040259*y + 1.0572252*z),
	}
}

// TestProcessDisplayP3 checks Display P3 input comes out converted to
// sRGB, and that no output (variants or the original) keeps an ICC
// profile: the rule is no profile at all, which reads as sRGB.
func TestProcessDisplayP3(t *testing.T) {
	t.Parallel()
	p3 := testimages.Shared(t, "p3.png") // 8x8, P3 (241, 0, 0): out of the sRGB gamut
	// A generated picture of in-gamut P3 colours, with p3.png's profile.
	colours := [4][3]float64{{200, 100, 50}, {60, 160, 90}, {60, 120, 200}, {180, 170, 40}}
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			c := colours[x/32+y/24*2]
			img.SetRGBA(x, y, color.RGBA{uint8(c[0]), uint8(c[1]), uint8(c[2]), 255})
		}
	}
	generated := withChunk(testimages.PNG(img), iccpChunk(t, p3))

	tests := []struct {
		name   string
		src    []byte
		points []image.Point // where to sample, in the 64 px wide output
		p3     [][3]float64  // the source colour there
		want   [][3]float64  // the sRGB colour expected there
		tol    float64       // per channel, 0-255
	}{
		// Reference: `vips icc_transform p3.png out.v srgb --embedded`
		// (libvips 8.14, lcms2) gives (255, 0, 0).
		{"p3.png", p3, []image.Point{{32, 32}}, [][3]float64{{241, 0, 0}}, [][3]float64{{255, 0, 0}}, 4},
		{"generated", generated, []image.Point{{16, 12}, {48, 12}, {16, 36}, {48, 36}}, colours[:],
			[][3]float64{p3ToSRGB(colours[0]), p3ToSRGB(colours[1]), p3ToSRGB(colours[2]), p3ToSRGB(colours[3])}, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := run(context.Background(), tc.src, media.SourceType{Formats: []string{"webp", "avif"}, StoreOriginal: true}, inside("md", 400))
			if err != nil {
				t.Fatal(err)
			}
			outs := append(res.Variants, *res.Original)
			for _, o := range outs {
				assertNoMetadata(t, o.Format, o.Data)
				// HEIF: a colr box of type prof or rICC holds an ICC profile
				// (type nclx only names the sRGB primaries).
				if bytes.Contains(o.Data, []byte("colrprof")) || bytes.Contains(o.Data, []byte("colrrICC")) {
					t.Errorf("%s.%s carries an ICC profile", o.Name, o.Format)
				}
				got := decodeForTest(t, o.Data, 64)
				scale := float64(got.Bounds().Dx()) / 64
				for i, p := range tc.points {
					c := got.RGBAAt(int(float64(p.X)*scale), int(float64(p.Y)*scale))
					px := [3]float64{float64(c.R), float64(c.G), float64(c.B)}
					shift := 0.0 // how far the conversion moves this colour
					for ch := range 3 {
						shift = max(shift, math.Abs(tc.want[i][ch]-tc.p3[i][ch]))
						if math.Abs(px[ch]-tc.want[i][ch]) > tc.tol {
							t.Errorf("%s.%s at %v: %v, want %.0f within %.0f (unconverted: %.0f)",
								o.Name, o.Format, p, px, tc.want[i], tc.tol, tc.p3[i])
							break
						}
					}
					if shift < 3*tc.tol {
						t.Errorf("test colour %.0f: P3 and sRGB differ by only %.0f, the check has no teeth", tc.p3[i], shift)
					}
				}
			}
		})
	}
}
