package vips

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// memoryImage decodes a lossless PNG of img into an in-memory Image
// (sRGB, 3 bands), the form the variant cascade resizes.
func memoryImage(t *testing.T, img image.Image) Image {
	t.Helper()
	buf := NewBuffer(testimages.PNG(img))
	defer buf.Free()
	v, err := Decode(buf, "png", img.Bounds().Dx(), PlainRGB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// compare reports the mean and the largest absolute difference per
// channel of two images of the same size and bands.
func compare(t *testing.T, a, b Image) (mean float64, most int) {
	t.Helper()
	if a.Width() != b.Width() || a.Height() != b.Height() || a.Bands() != b.Bands() {
		t.Fatalf("%dx%dx%d against %dx%dx%d", a.Width(), a.Height(), a.Bands(), b.Width(), b.Height(), b.Bands())
	}
	pa, err := a.Pixels()
	if err != nil {
		t.Fatal(err)
	}
	pb, err := b.Pixels()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for i := range pa {
		d := max(int(pa[i])-int(pb[i]), int(pb[i])-int(pa[i]))
		sum += d
		most = max(most, d)
	}
	return float64(sum) / float64(len(pa)), most
}

// lanczosWeights are the lanczos3 taps of each of out positions over in:
// the first source index and the normalised weights from there.
func lanczosWeights(in, out int) (first []int, ws [][]float64) {
	f := float64(in) / float64(out)
	scale := max(f, 1)
	support := 3 * scale
	for i := range out {
		c := (float64(i)+0.5)*f - 0.5
		lo := int(math.Floor(c-support)) + 1
		var row []float64
		sum := 0.0
		for k := lo; float64(k) < c+support; k++ {
			x := (float64(k) - c) / scale
			v := 1.0
			if x != 0 {
				v = 3 * math.Sin(math.Pi*x) * math.Sin(math.Pi*x/3) / (math.Pi * math.Pi * x * x)
			}
			if math.Abs(x) >= 3 {
				v = 0
			}
			row = append(row, v)
			sum += v
		}
		for k := range row {
			row[k] /= sum
		}
		first, ws = append(first, lo), append(ws, row)
	}
	return first, ws
}

// lanczos3Reference scales 8-bit interleaved pixels the way reduce.c
// means to, in float64: output pixel i centred at (i + 0.5) * in/out - 0.5,
// the kernel widened by the reduction, edges repeated; vertically first,
// rounded to 8 bits (clamped, as libvips does between its passes), then
// horizontally.
func lanczos3Reference(px []byte, w, h, bands, ow, oh int) []byte {
	clampIdx := func(i, n int) int { return min(max(i, 0), n-1) }
	toByte := func(v float64) byte { return uint8(min(max(math.Round(v), 0), 255)) }
	hf, hw := lanczosWeights(w, ow)
	vf, vw := lanczosWeights(h, oh)
	mid := make([]byte, w*oh*bands) // vertical first, rounded to 8 bits
	for y := range oh {
		for x := range w {
			for b := range bands {
				s := 0.0
				for k, wt := range vw[y] {
					s += wt * float64(px[(clampIdx(vf[y]+k, h)*w+x)*bands+b])
				}
				mid[(y*w+x)*bands+b] = toByte(s)
			}
		}
	}
	out := make([]byte, ow*oh*bands)
	for y := range oh {
		for x := range ow {
			for b := range bands {
				s := 0.0
				for k, wt := range hw[x] {
					s += wt * float64(mid[(y*w+clampIdx(hf[x]+k, w))*bands+b])
				}
				out[(y*ow+x)*bands+b] = toByte(s)
			}
		}
	}
	return out
}

// Our lanczos3 (reduce.c) makes the filter's pixels, at the size asked,
// within its 14-bit fixed-point weights (a value rounding the other way
// between the passes can move a pixel by 2): for
// reductions small and large (past the widest kernel its SIMD path takes,
// where it falls back to plain C), odd sizes, one axis at a time.
func TestReduceIsLanczos3(t *testing.T) {
	t.Parallel()
	const w, h = 517, 389
	src := memoryImage(t, testimages.Busy(w, h, 7))
	px, err := src.Pixels()
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range [][2]int{
		{517, 389}, // same size: still filtered
		{400, 301}, {300, 389}, {517, 100}, {258, 194}, {258, 389}, {517, 194}, {97, 73}, {97, 389}, {517, 73},
		{40, 30}, {33, 25}, // 13x and 16x (REDUCE_MAX): past the SIMD path's widest kernel
		{33, 389}, {517, 25},
	} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			t.Parallel()
			ours, err := src.Resize(size[0], size[1])
			if err != nil {
				t.Fatal(err)
			}
			defer ours.Close()
			if ours.Width() != size[0] || ours.Height() != size[1] || ours.Bands() != 3 {
				t.Fatalf("got %dx%dx%d, want %dx%dx3", ours.Width(), ours.Height(), ours.Bands(), size[0], size[1])
			}
			got, err := ours.Pixels()
			if err != nil {
				t.Fatal(err)
			}
			want := lanczos3Reference(px, w, h, 3, size[0], size[1])
			sum, most := 0, 0
			for i := range want {
				d := max(int(got[i])-int(want[i]), int(want[i])-int(got[i]))
				sum += d
				most = max(most, d)
			}
			if mean := float64(sum) / float64(len(want)); mean > 0.15 || most > 2 {
				t.Fatalf("differs from lanczos3 in float64 by %.3f on average, %d at most", mean, most)
			}
		})
	}
}

// Past REDUCE_MAX, Resize leaves the work to vips_resize (which box
// shrinks first), down to a single pixel, rather than keep hundreds of
// source rows and taps.
func TestResizeBeyondReduceMax(t *testing.T) {
	t.Parallel()
	src := memoryImage(t, testimages.Busy(517, 389, 9))
	for _, size := range [][2]int{{1, 389}, {517, 1}, {1, 1}, {20, 20}} {
		out, err := src.Resize(size[0], size[1])
		if err != nil {
			t.Fatal(err)
		}
		if out.Width() != size[0] || out.Height() != size[1] {
			t.Fatalf("got %dx%d, want %dx%d", out.Width(), out.Height(), size[0], size[1])
		}
		want, err := src.vipsResize(size[0], size[1])
		if err != nil {
			t.Fatal(err)
		}
		if mean, most := compare(t, out, want); mean != 0 || most != 0 {
			t.Fatalf("%dx%d: not vips_resize's pixels (%.3f on average, %d at most)", size[0], size[1], mean, most)
		}
		out.Close()
		want.Close()
	}
}

// A flat colour stays exactly that colour, edges included: the weights of
// every output pixel sum to exactly one.
func TestReduceKeepsFlatColour(t *testing.T) {
	t.Parallel()
	flat := image.NewRGBA(image.Rect(0, 0, 301, 203))
	for i := 0; i < len(flat.Pix); i += 4 {
		copy(flat.Pix[i:], []byte{201, 13, 77, 255})
	}
	src := memoryImage(t, flat)
	for _, size := range [][2]int{{300, 200}, {150, 101}, {37, 25}, {3, 2}} {
		out, err := src.Resize(size[0], size[1])
		if err != nil {
			t.Fatal(err)
		}
		px, err := out.Pixels()
		out.Close()
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(px); i += 3 {
			if px[i] != 201 || px[i+1] != 13 || px[i+2] != 77 {
				t.Fatalf("%dx%d: pixel %d is %v, want [201 13 77]", size[0], size[1], i/3, px[i:i+3])
			}
		}
	}
}

// The fast paths make the picture the slow one makes: load_jpeg (plain
// JPEGs) thumbnail's, for all eight orientations, colour and grey, shrunk
// on load or not; load_png (8-bit PNGs) exactly what decoding the whole
// PNG and then reducing it makes, RGB, RGBA and grey; and what they leave
// to thumbnail (past REDUCE_MAX, a 16-bit PNG, grey with alpha) is
// thumbnail's.
func TestFastPathsMatchThumbnail(t *testing.T) {
	t.Parallel()
	grey := image.NewGray(image.Rect(0, 0, 640, 480))
	for y := range 480 {
		for x := range 640 {
			grey.Pix[y*640+x] = uint8(x*200/640 + y*50/480)
		}
	}
	rgba := image.NewNRGBA(image.Rect(0, 0, 640, 480))
	greyAlpha := image.NewNRGBA(image.Rect(0, 0, 640, 480))
	busy := testimages.Busy(640, 480, 5)
	for y := range 480 {
		for x := range 640 {
			c := busy.RGBAAt(x, y)
			a := uint8(min(255, max(0, (x-100)*255/400)))
			rgba.SetNRGBA(x, y, color.NRGBA{c.R, c.G, c.B, a})
			greyAlpha.SetNRGBA(x, y, color.NRGBA{c.G, c.G, c.G, a})
		}
	}
	deep := image.NewRGBA64(image.Rect(0, 0, 640, 480))
	for y := range 480 {
		for x := range 640 {
			deep.SetRGBA64(x, y, color.RGBA64{uint16(x * 100), uint16(y * 130), 30000, 65535})
		}
	}
	// want: how the fast path's picture compares. "thumbnail": within
	// what two lanczos3 implementations differ by; "slow": the same bytes
	// as without the fast path (thumbnail's, or as loaded); "reduced":
	// the same bytes as the whole PNG decoded, then reduced.
	type tc struct {
		name, format string
		src          []byte
		width, bands int
		want         string
	}
	cases := []tc{
		{"grey", "jpeg", testimages.TaggedJPEG(grey, 1), 300, 3, "thumbnail"},
		{"grey shrunk on load", "jpeg", testimages.TaggedJPEG(grey, 1), 100, 3, "thumbnail"},
		{"past REDUCE_MAX after shrink-on-load: thumbnail's", "jpeg", testimages.TaggedJPEG(grey, 1), 4, 3, "thumbnail"},
		{"png rgb", "png", testimages.PNG(busy), 333, 3, "reduced"},
		{"png rgba", "png", testimages.PNG(rgba), 200, 4, "reduced"},
		{"png grey", "png", testimages.PNG(grey), 150, 3, "reduced"},
		{"png rgba, same size: as loaded", "png", testimages.PNG(rgba), 640, 4, "slow"},
		{"png grey with alpha: thumbnail's", "png", greyAlphaPNG(t, greyAlpha), 150, 4, "slow"},
		{"png 16-bit: thumbnail's", "png", testimages.PNG(deep), 150, 3, "slow"},
		{"png past REDUCE_MAX: thumbnail's", "png", testimages.PNG(rgba), 30, 4, "slow"},
	}
	for o := 1; o <= 8; o++ {
		cases = append(cases, tc{fmt.Sprintf("orientation %d", o), "jpeg", testimages.TaggedJPEG(testimages.Stored(testimages.Quadrants(640, 480), o), o), 333, 3, "thumbnail"})
	}
	cases[len(cases)-1].width = 150 // 640/150 > 4: shrunk 2x on load
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			buf := NewBuffer(c.src)
			defer buf.Free()
			fast, _, err := decodeWith(buf, c.format, c.width, PlainRGB, 1, true)
			if err != nil {
				t.Fatal(err)
			}
			defer fast.Close()
			slow, _, err := decodeWith(buf, c.format, c.width, PlainRGB, 1, false)
			if err != nil {
				t.Fatal(err)
			}
			defer slow.Close()
			if fast.Bands() != c.bands {
				t.Fatalf("%d bands, want %d", fast.Bands(), c.bands)
			}
			switch c.want {
			case "slow":
				if mean, most := compare(t, fast, slow); most != 0 {
					t.Fatalf("differs from the slow path by %.3f on average, %d at most", mean, most)
				}
				return
			case "reduced":
				full, _, err := decodeWith(buf, c.format, 640, PlainRGB, 1, false)
				if err != nil {
					t.Fatal(err)
				}
				defer full.Close()
				if slow, err = full.Resize(slow.Width(), slow.Height()); err != nil {
					t.Fatal(err)
				}
				defer slow.Close()
				if mean, most := compare(t, fast, slow); most != 0 {
					t.Fatalf("differs from the whole PNG reduced by %.3f on average, %d at most", mean, most)
				}
				return
			}
			// thumbnail resizes with libvips' own lanczos3 (rounding and
			// tap placement differ slightly): the same picture, not the
			// same bytes.
			mean, most := compare(t, fast, slow)
			if mean > 0.5 || most > 24 {
				t.Fatalf("differs from thumbnail by %.3f on average, %d at most", mean, most)
			}
		})
	}
}

// greyAlphaPNG encodes img as a 2-band (grey and alpha) PNG, which Go's
// encoder never writes: the vips command line converts it.
func greyAlphaPNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	vips, err := exec.LookPath("vips")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the vips command line (libvips-tools) is missing")
		}
		t.Skip("no vips command line (libvips-tools) to make a grey PNG with alpha")
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "rgba.png"), filepath.Join(dir, "ga.png")
	if err := os.WriteFile(in, testimages.PNG(img), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(vips, "colourspace", in, out, "b-w").CombinedOutput(); err != nil {
		t.Fatalf("vips colourspace: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// premultipliedReference is lanczos3Reference for RGBA weighted by alpha,
// in float64 throughout: colour times alpha and alpha reduced alike, the
// colour divided back by the alpha it ends with (0 where that is 0).
func premultipliedReference(px []byte, w, h, ow, oh int) []byte {
	clampIdx := func(i, n int) int { return min(max(i, 0), n-1) }
	toByte := func(v float64) byte { return uint8(min(max(math.Round(v), 0), 255)) }
	pre := make([]float64, len(px))
	for i := 0; i < len(px); i += 4 {
		a := float64(px[i+3])
		for b := range 3 {
			pre[i+b] = float64(px[i+b]) * a / 255
		}
		pre[i+3] = a
	}
	hf, hw := lanczosWeights(w, ow)
	vf, vw := lanczosWeights(h, oh)
	mid := make([]float64, w*oh*4)
	for y := range oh {
		for x := range w {
			for b := range 4 {
				s := 0.0
				for k, wt := range vw[y] {
					s += wt * pre[(clampIdx(vf[y]+k, h)*w+x)*4+b]
				}
				mid[(y*w+x)*4+b] = min(max(s, 0), 255)
			}
		}
	}
	out := make([]byte, ow*oh*4)
	for y := range oh {
		for x := range ow {
			var v [4]float64
			for b := range 4 {
				for k, wt := range hw[x] {
					v[b] += wt * mid[(y*w+clampIdx(hf[x]+k, w))*4+b]
				}
				v[b] = min(max(v[b], 0), 255)
			}
			o := out[(y*ow+x)*4:]
			o[3] = toByte(v[3])
			if v[3] > 0 {
				for b := range 3 {
					o[b] = toByte(v[b] * 255 / v[3])
				}
			}
		}
	}
	return out
}

// RGBA is reduced weighted by its alpha, as vips_resize between
// vips_premultiply and vips_unpremultiply would: against that filter in
// float64, within a level on average, and at most 2 on the alpha and on
// the colour of pixels at least half opaque (fainter ones have less
// precision to lose, and show less). Transparent pixels lend nothing to
// their neighbours: a white half beside a transparent black one stays
// white up to the edge.
func TestReduceRGBA(t *testing.T) {
	t.Parallel()
	const w, h = 301, 203
	busy := testimages.Busy(w, h, 3)
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := busy.RGBAAt(x, y)
			a := uint8(min(255, max(0, (x-40)*255/200))) // transparent, a ramp, then opaque
			if y%50 < 10 {
				a = uint8(y * 7 % 256) // stripes of other alphas
			}
			img.SetNRGBA(x, y, color.NRGBA{c.R, c.G, c.B, a})
		}
	}
	src := memoryImage(t, img)
	if src.Bands() != 4 {
		t.Fatalf("%d bands, want RGBA", src.Bands())
	}
	px, err := src.Pixels()
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range [][2]int{{301, 203}, {200, 135}, {150, 101}, {64, 43}, {32, 22}, {301, 50}, {40, 203}} {
		out, err := src.Resize(size[0], size[1])
		if err != nil {
			t.Fatal(err)
		}
		got, err := out.Pixels()
		out.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := premultipliedReference(px, w, h, size[0], size[1])
		sum, most := 0, 0
		for i := 0; i < len(want); i += 4 {
			for b := range 4 {
				d := max(int(got[i+b])-int(want[i+b]), int(want[i+b])-int(got[i+b]))
				sum += d
				if b == 3 || want[i+3] >= 128 {
					most = max(most, d)
				}
			}
		}
		if mean := float64(sum) / float64(len(want)); mean > 1 || most > 2 {
			t.Errorf("%dx%d: differs from the premultiplied lanczos3 by %.3f on average, %d at most", size[0], size[1], mean, most)
		}
	}

	half := image.NewNRGBA(image.Rect(0, 0, 200, 100))
	for y := range 100 {
		for x := range 200 {
			if x < 100 {
				half.SetNRGBA(x, y, color.NRGBA{255, 255, 255, 255})
			}
		}
	}
	out, err := memoryImage(t, half).Resize(50, 25)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	got, err := out.Pixels()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(got); i += 4 {
		if got[i+3] > 0 && (got[i] < 254 || got[i+1] < 254 || got[i+2] < 254) {
			t.Fatalf("pixel %d: %v, want white wherever it is not transparent", i/4, got[i:i+4])
		}
	}
}
