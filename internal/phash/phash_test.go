package phash

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"math/bits"
	"strings"
	"sync"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// recommendedWidth is the thumbnail width the pipeline should hash (see
// TestHashFindsCopies for why not the 32 px BlurHash thumbnail).
const recommendedWidth = 64

// scenes are synthetic pictures in three shapes: 4:3, 3:4 and a 4:1
// panorama, whose short side is the hard case for a small thumbnail.
var scenes = sync.OnceValue(func() []image.Image {
	sizes := [][2]int{{640, 480}, {480, 640}, {960, 240}}
	out := make([]image.Image, 30)
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			s := sizes[i%len(sizes)]
			out[i] = testimages.Scene(uint64(i), s[0], s[1])
		})
	}
	wg.Wait()
	return out
})

// madeCopies[i][j] is variant j of allVariants of scene i, for the first
// twelve scenes.
var madeCopies = sync.OnceValue(func() [][]image.Image {
	made := make([][]image.Image, 12)
	var wg sync.WaitGroup
	for i, p := range scenes()[:len(made)] {
		wg.Go(func() {
			for _, v := range allVariants() {
				made[i] = append(made[i], v.make(p))
			}
		})
	}
	wg.Wait()
	return made
})

// shape names a scene's shape for reports.
func shape(img image.Image) string {
	b := img.Bounds()
	switch {
	case b.Dx() >= 2*b.Dy():
		return "panorama"
	case b.Dx() > b.Dy():
		return "landscape"
	}
	return "portrait"
}

// Recodings and light crops of a picture hash within NearDuplicate of it,
// hashed from a 64 px thumbnail as recommended. Measured on twelve scenes
// (the log has the worst distance of each variant by shape): at 64 px,
// recodings are within 4 bits and light crops within 8. At 32 px the 4:1
// panoramas get 32x8 thumbnails, too few rows for eight vertical
// frequencies: recodings reach 8 bits and a 2% crop 12, hence 64 px.
// Crops of 5% off one side or all round move the picture more than the
// 8x8 lowest frequencies follow (12 to 18 bits, near the closest different
// scenes at 22): they are logged, not required.
func TestHashFindsCopies(t *testing.T) {
	t.Parallel()
	made := madeCopies()
	pictures := scenes()[:len(made)]
	all := allVariants()
	required := len(recodings) + len(lightCrops)
	for _, width := range []int{32, recommendedWidth} {
		worst := map[string][]int{} // by shape: the worst distance of each variant
		for i, p := range pictures {
			h := Hash(thumbnail(p, width))
			w := worst[shape(p)]
			if w == nil {
				w = make([]int, len(all))
				worst[shape(p)] = w
			}
			for j, v := range all {
				d := Distance(h, Hash(thumbnail(made[i][j], width)))
				w[j] = max(w[j], d)
				if width == recommendedWidth && j < required && d > NearDuplicate {
					t.Errorf("scene %d (%s), %s: distance %d at %d px, want <= %d", i, shape(p), v.name, d, width, NearDuplicate)
				}
			}
		}
		for _, s := range []string{"landscape", "portrait", "panorama"} {
			var parts []string
			for j, v := range all {
				parts = append(parts, fmt.Sprintf("%s %d", v.name, worst[s][j]))
			}
			t.Logf("%d px, %s: worst distance per variant: %s", width, s, strings.Join(parts, ", "))
		}
	}
}

// Different pictures, and copies of different pictures, hash further apart
// than NearDuplicate. Over the 435 pairs of 30 scenes the closest were 22
// bits apart at 64 px (mean 31); the log has the distribution.
func TestHashTellsPicturesApart(t *testing.T) {
	t.Parallel()
	pictures := scenes()
	hashes := make([]uint64, len(pictures))
	for i, p := range pictures {
		hashes[i] = Hash(thumbnail(p, recommendedWidth))
	}
	closest := 64
	histogram := make([]int, 65)
	for i := range hashes {
		for j := i + 1; j < len(hashes); j++ {
			d := Distance(hashes[i], hashes[j])
			histogram[d]++
			closest = min(closest, d)
			if d <= NearDuplicate {
				t.Errorf("scenes %d and %d: distance %d, want > %d", i, j, d, NearDuplicate)
			}
		}
	}
	t.Logf("different scenes: closest %d bits apart; %s", closest, describe(histogram))

	// A copy of one scene is no nearer another scene than the scene was.
	for i, made := range madeCopies() {
		for k, v := range allVariants()[:len(recodings)+len(lightCrops)] {
			h := Hash(thumbnail(made[k], recommendedWidth))
			for j := range hashes {
				if d := Distance(h, hashes[j]); j != i && d <= NearDuplicate {
					t.Errorf("scene %d %s against scene %d: distance %d, want > %d", i, v.name, j, d, NearDuplicate)
				}
			}
		}
	}
}

// describe summarises a histogram of distances as "N at D" runs.
func describe(histogram []int) string {
	var parts []string
	for d, n := range histogram {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d at %d", n, d))
		}
	}
	return "pairs by distance: " + strings.Join(parts, ", ")
}

func TestDistance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b uint64
		want int
	}{
		{0, 0, 0},
		{0, ^uint64(0), 64},
		{0b1011, 0b0001, 2},
		{1 << 63, 1, 2},
	}
	for _, tt := range tests {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%#x, %#x) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// The hash is stored with each media and compared with hashes made by
// earlier versions: any change to what Hash computes must fail here (and
// needs every stored hash recomputed).
func TestHashIsStable(t *testing.T) {
	t.Parallel()
	img := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			v := uint8((x*x + 3*y*y + 5*x*y) % 256)
			img.SetNRGBA(x, y, color.NRGBA{v, uint8(x * 4), uint8(y * 5), 255})
		}
	}
	const want = uint64(0x887a162b48dda9af)
	if got := Hash(img); got != want {
		t.Errorf("Hash = %#016x, was %#016x", got, want)
	}
}

// A 32x32 picture made of DCT basis patterns, with a positive weight for
// half of the 64 hashed frequencies (those whose index has an even number
// of 1 bits) and a negative one for the others, hashes to exactly those
// bits: term (u, v), u and v from 1 to 8, is
// bit 63 - ((v-1)*8 + (u-1)), set when the term is above the median.
func TestHashBits(t *testing.T) {
	t.Parallel()
	img := image.NewGray16(image.Rect(0, 0, side, side))
	var want uint64
	weight := func(k int) float64 {
		if bits.OnesCount(uint(k))%2 == 0 {
			return 1 + float64(k)/64
		}
		return -1 - float64(k)/64
	}
	for k := range 64 {
		if weight(k) > 0 {
			want |= 1 << (63 - k)
		}
	}
	for y := range side {
		for x := range side {
			v := 0.5
			for k := range 64 {
				u, w := k%8+1, k/8+1
				v += 0.004 * weight(k) * math.Cos(math.Pi*float64((2*x+1)*u)/64) * math.Cos(math.Pi*float64((2*y+1)*w)/64)
			}
			if v < 0 || v > 1 {
				t.Fatalf("pixel %d,%d out of range: %v", x, y, v)
			}
			img.SetGray16(x, y, color.Gray16{uint16(math.Round(v * 0xffff))})
		}
	}
	if got := Hash(img); got != want {
		t.Errorf("Hash = %064b\nwant   %064b", got, want)
	}
}

// A picture with nothing in it, or nothing at all, hashes to 0.
func TestHashFlat(t *testing.T) {
	t.Parallel()
	for _, img := range []image.Image{
		flat(64, 48, color.NRGBA{200, 30, 30, 255}),
		flat(64, 48, color.NRGBA{10, 200, 30, 128}),
		image.NewNRGBA(image.Rect(0, 0, 0, 10)),
	} {
		if got := Hash(img); got != 0 {
			t.Errorf("Hash of a flat %T %v = %#x, want 0", img, img.Bounds(), got)
		}
	}
}

func flat(w, h int, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(c), image.Point{}, draw.Src)
	return img
}

// The image types decoders give hash alike: the fast paths (YCbCr, Gray,
// RGBA, NRGBA) against the generic one and each other.
func TestHashImageTypes(t *testing.T) {
	t.Parallel()
	src := thumbnail(scenes()[0], recommendedWidth).(*image.NRGBA)
	ycbcr := reencoded(95)(src).(*image.YCbCr)
	viaModel := image.NewRGBA(ycbcr.Bounds()) // the generic path
	draw.Draw(viaModel, viaModel.Bounds(), ycbcr, image.Point{}, draw.Src)
	if d := Distance(Hash(ycbcr), Hash(viaModel)); d > 2 {
		t.Errorf("YCbCr and its RGBA copy: distance %d, want <= 2", d)
	}
	if got, want := Hash(viaModel), Hash(image.Image(struct{ image.Image }{viaModel})); got != want {
		t.Errorf("RGBA hashes as %#x, the same pixels through the generic path as %#x", got, want)
	}
	gray := image.NewGray(src.Bounds())
	draw.Draw(gray, gray.Bounds(), src, image.Point{}, draw.Src)
	greyNRGBA := image.NewNRGBA(src.Bounds())
	draw.Draw(greyNRGBA, greyNRGBA.Bounds(), gray, image.Point{}, draw.Src)
	if d := Distance(Hash(gray), Hash(greyNRGBA)); d != 0 {
		t.Errorf("Gray and the same grey as NRGBA: distance %d, want 0", d)
	}
	// An offset sub-image hashes as the same pixels on their own.
	big := flat(100, 80, color.NRGBA{0, 0, 0, 255})
	r := image.Rect(20, 10, 20+src.Bounds().Dx(), 10+src.Bounds().Dy())
	draw.Draw(big, r, src, image.Point{}, draw.Src)
	if got, want := Hash(big.SubImage(r)), Hash(src); got != want {
		t.Errorf("sub-image hashes as %#x, the same pixels alone as %#x", got, want)
	}
	// Transparent pixels count as white.
	clear := image.NewNRGBA(src.Bounds())
	copy(clear.Pix, src.Pix)
	onWhite := image.NewNRGBA(src.Bounds())
	copy(onWhite.Pix, src.Pix)
	for i := 0; i < len(clear.Pix); i += 4 {
		if i/4%src.Bounds().Dx() < 20 {
			clear.Pix[i+3] = 0
			copy(onWhite.Pix[i:i+4], []byte{255, 255, 255, 255})
		}
	}
	if got, want := Hash(clear), Hash(onWhite); got != want {
		t.Errorf("transparent pixels hash as %#x, white ones as %#x", got, want)
	}
	premultiplied := image.NewRGBA(clear.Bounds())
	draw.Draw(premultiplied, premultiplied.Bounds(), clear, image.Point{}, draw.Src)
	if got, want := Hash(premultiplied), Hash(clear); got != want {
		t.Errorf("transparent pixels in an RGBA image hash as %#x, in NRGBA as %#x", got, want)
	}
}
