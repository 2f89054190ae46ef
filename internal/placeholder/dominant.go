package placeholder

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"slices"
	"sync"
)

// DominantRadius is how far apart, in Oklab (a perceptual colour space
// whose lightness runs from 0 to 1; a just noticeable difference is about
// 0.02), two colours may be and still count as one colour for
// DominantColour: about four just noticeable differences, so that the
// shades of a sky or a wall, blurred by the thumbnail, count as one.
const DominantRadius = 0.08

// dominantMaxSide bounds the pixels DominantColour looks at: larger images
// are reduced by area averaging to fit 100 x 100 first.
const dominantMaxSide = 100

// dominantSeeds is how many of the most populated colour cells the search
// for the densest colour starts from.
const dominantSeeds = 8

// binIndexes recycles DominantColour's table from 15-bit colour keys to
// bins (128 KB, handed back all zero).
var binIndexes = sync.Pool{New: func() any { return new([1 << 15]int32) }}

// DominantColour returns the colour that covers most of img, counting
// every colour within DominantRadius of it as the same colour: the centre
// of the densest ball of that radius in the image's colour distribution
// (its mode), found by mean shift, and reported as the mean of the pixels
// in the ball, so a flat area gives its exact colour. Each pixel weighs its
// alpha: transparent pixels do not count at all, half-transparent ones
// half.
//
// The mode rather than the mean: the mean of a red and blue image is a
// purple that appears nowhere in it. And a mode at a fixed perceptual
// radius rather than k-means or median cut: those split the colours into a
// chosen number of groups and then name the largest group, whose size
// depends on how many groups were asked for and, for k-means, on where it
// started.
//
// Steps: pixels are binned by their top 5 bits per channel; the eight
// most populated cells at 4 bits per channel seed a flat-kernel mean shift
// over the bins in Oklab, which moves each seed to the weighted mean of the
// bins within DominantRadius until it stays; the seed whose ball ends up
// heaviest wins. An image with no visible pixel gives the zero colour
// (transparent black).
func DominantColour(img image.Image) color.NRGBA {
	w, _, px := nrgbaPixels(img, dominantMaxSide)
	if w == 0 {
		return color.NRGBA{}
	}

	// Fine bins (5 bits a channel) with their weight and colour sums.
	type bin struct {
		key             int
		weight, r, g, b float64
		lab             [3]float64
	}
	var bins []bin
	index := binIndexes.Get().(*[1 << 15]int32) // fine key -> bin index + 1
	for i := 0; i < len(px); i += 4 {
		if px[i+3] == 0 {
			continue
		}
		r, g, b, a := px[i], px[i+1], px[i+2], float64(px[i+3])/255
		key := int(r>>3)<<10 | int(g>>3)<<5 | int(b>>3)
		if index[key] == 0 {
			bins = append(bins, bin{key: key})
			index[key] = int32(len(bins))
		}
		fb := &bins[index[key]-1]
		fb.weight += a
		fb.r += a * float64(r)
		fb.g += a * float64(g)
		fb.b += a * float64(b)
	}
	for _, b := range bins {
		index[b.key] = 0 // all zero again for the next call
	}
	binIndexes.Put(index)
	if len(bins) == 0 {
		return color.NRGBA{}
	}

	// Coarse cells (4 bits a channel), summed from the fine bins, for
	// seeding.
	var coarse [1 << 12]struct{ weight, r, g, b float64 }
	for _, b := range bins {
		cb := &coarse[(b.key>>11)<<8|(b.key>>6&15)<<4|(b.key>>1&15)]
		cb.weight += b.weight
		cb.r += b.r
		cb.g += b.g
		cb.b += b.b
	}
	for i := range bins {
		b := &bins[i]
		b.lab = oklab(b.r/b.weight, b.g/b.weight, b.b/b.weight)
	}

	// Seeds: the heaviest coarse cells, heaviest first.
	cells := make([]int, 0, len(coarse))
	for i := range coarse {
		if coarse[i].weight > 0 {
			cells = append(cells, i)
		}
	}
	slices.SortStableFunc(cells, func(a, b int) int {
		switch wa, wb := coarse[a].weight, coarse[b].weight; {
		case wa > wb:
			return -1
		case wa < wb:
			return 1
		}
		return 0
	})
	cells = cells[:min(len(cells), dominantSeeds)]

	// ball returns the weighted mean Oklab colour of the bins within
	// DominantRadius of c, and their total weight.
	const r2 = DominantRadius * DominantRadius
	ball := func(c [3]float64) (mean [3]float64, weight float64) {
		for _, b := range bins {
			d0, d1, d2 := b.lab[0]-c[0], b.lab[1]-c[1], b.lab[2]-c[2]
			if d0*d0+d1*d1+d2*d2 <= r2 {
				weight += b.weight
				for k := range 3 {
					mean[k] += b.weight * b.lab[k]
				}
			}
		}
		if weight > 0 {
			for k := range 3 {
				mean[k] /= weight
			}
		}
		return mean, weight
	}

	var best [3]float64
	bestWeight := 0.0
	for _, i := range cells {
		cb := coarse[i]
		c := oklab(cb.r/cb.weight, cb.g/cb.weight, cb.b/cb.weight)
		weight := 0.0
		// A flat-kernel mean shift stops after finitely many steps; 32
		// bounds it where rounding makes it hop between two points.
		for range 32 {
			mean, wt := ball(c)
			if wt == 0 {
				break
			}
			moved := math.Abs(mean[0]-c[0]) + math.Abs(mean[1]-c[1]) + math.Abs(mean[2]-c[2])
			c, weight = mean, wt
			if moved < 1e-9 {
				break
			}
		}
		if weight > bestWeight {
			best, bestWeight = c, weight
		}
	}

	// The answer is the mean sRGB colour of the winning ball's pixels.
	var sw, sr, sg, sb float64
	for _, b := range bins {
		d0, d1, d2 := b.lab[0]-best[0], b.lab[1]-best[1], b.lab[2]-best[2]
		if d0*d0+d1*d1+d2*d2 <= r2 {
			sw += b.weight
			sr += b.r
			sg += b.g
			sb += b.b
		}
	}
	return color.NRGBA{
		R: uint8(math.Round(sr / sw)),
		G: uint8(math.Round(sg / sw)),
		B: uint8(math.Round(sb / sw)),
		A: 255,
	}
}

// Hex formats c as a CSS colour, "#rrggbb" (alpha is left out).
func Hex(c color.NRGBA) string {
	return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B)
}

// linear maps an 8-bit sRGB value to linear light.
var linear = func() (t [256]float64) {
	for i := range t {
		v := float64(i) / 255
		if v <= 0.04045 {
			t[i] = v / 12.92
		} else {
			t[i] = math.Pow((v+0.055)/1.055, 2.4)
		}
	}
	return t
}()

// oklab converts an sRGB colour with channels in [0, 255] (fractions
// allowed: bin means) to Oklab (Björn Ottosson, 2020).
func oklab(r, g, b float64) [3]float64 {
	lr, lg, lb := toLinear(r), toLinear(g), toLinear(b)
	l := math.Cbrt(0.4122214708*lr + 0.5363325363*lg + 0.0514459929*lb)
	m := math.Cbrt(0.2119034982*lr + 0.6806995451*lg + 0.1073969566*lb)
	s := math.Cbrt(0.0883024619*lr + 0.2817188376*lg + 0.6299787005*lb)
	return [3]float64{
		0.2104542553*l + 0.7936177850*m - 0.0040720468*s,
		1.9779984951*l - 2.4285922050*m + 0.4505937099*s,
		0.0259040371*l + 0.7827717662*m - 0.8086757660*s,
	}
}

// toLinear interpolates the linear table between whole sRGB values.
func toLinear(v float64) float64 {
	i := int(v)
	if i >= 255 {
		return linear[255]
	}
	f := v - float64(i)
	return linear[i] + f*(linear[i+1]-linear[i])
}
