// Package phash computes a 64-bit perceptual hash of an image, for finding
// near-duplicates: copies re-encoded, resized, slightly cropped or
// brightened hash within a few bits of each other (Distance), different
// pictures far apart.
//
// The hash is the classic DCT pHash (as in pHash.org's ph_dct_imagehash):
// the image in grey, reduced to 32x32, then its 2D DCT, of which the 8x8
// lowest frequencies after the first row and column (so the DC term and
// the terms that vary along one axis only are left out) are compared
// with their median, one bit each. Low frequencies survive what
// re-encoding and resizing change; comparing with the median makes the
// hash indifferent to brightness and contrast.
//
// What it does not see as the same: mirrored or rotated copies (the
// pipeline hashes auto-oriented images, so EXIF rotation is not a
// concern), heavy crops, and pictures that differ only in colour, since
// only luma is hashed.
package phash

import (
	"image"
	"math"
	"math/bits"
	"slices"
)

// NearDuplicate is the largest Distance at which two hashes are taken for
// the same picture. Measured from 64 px thumbnails (phash_test.go,
// photos_test.go): JPEG copies at quality 50 and 95, copies resized to 50%
// and 200% and brightness changes stay within 4 bits, on synthetic scenes
// and real photos alike; crops of 2-3% of the width or height within 8 on
// the scenes (real photos: mostly 8, at worst 16). Different pictures were
// at least 22 bits apart (30 scenes) and 26 (the real photos), around a
// mean of 32. Ten bits leaves room on both sides; a higher threshold finds
// heavier crops (5% off one side: 10 to 20 bits) at the price of false
// matches, which grow quickly in large collections.
const NearDuplicate = 10

// side is the grey square the DCT is taken of.
const side = 32

// Hash returns the perceptual hash of img. A thumbnail 64 px wide is
// enough: the hash keeps eight frequencies a side, and hashing the full
// images instead measured no better. Larger images are reduced by area
// averaging, smaller ones interpolated. Pixels are composited over white
// first, as a page shows them.
//
// An image with no structure at all (one flat colour) hashes to 0, as does
// an empty one.
func Hash(img image.Image) uint64 {
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return 0
	}
	g := resample(luma(img), b.Dx(), b.Dy())

	// DCT-II of the 32x32 grey square, only the terms hashed: first along
	// each row, then down the columns.
	var rows [side][9]float64
	for y := range side {
		row := g[y*side : (y+1)*side]
		for u := 1; u < 9; u++ {
			s := 0.0
			for x, v := range row {
				s += v * cosTable[u][x]
			}
			rows[y][u] = s
		}
	}
	var terms [64]float64
	for v := 1; v < 9; v++ {
		for u := 1; u < 9; u++ {
			s := 0.0
			for y := range side {
				s += rows[y][u] * cosTable[v][y]
			}
			terms[(v-1)*8+(u-1)] = s
		}
	}

	// A flat image's terms are rounding noise: no structure to hash.
	largest := 0.0
	for _, t := range terms {
		largest = max(largest, math.Abs(t))
	}
	if largest < 1e-6 {
		return 0
	}

	sorted := terms
	slices.Sort(sorted[:])
	median := (sorted[31] + sorted[32]) / 2
	var h uint64
	for i, t := range terms {
		if t > median {
			h |= 1 << (63 - i)
		}
	}
	return h
}

// Distance is the number of bits in which two hashes differ (0 to 64).
func Distance(a, b uint64) int { return bits.OnesCount64(a ^ b) }

// cosTable[k][x] is cos(pi*(2x+1)*k / 64), the DCT-II basis.
var cosTable = func() (t [9][side]float64) {
	for k := range t {
		for x := range side {
			t[k][x] = math.Cos(math.Pi * float64((2*x+1)*k) / (2 * side))
		}
	}
	return t
}()

// luma returns img as grey levels (0-255, BT.601 weights of the sRGB
// values, as JPEG's Y), composited over white, row by row.
func luma(img image.Image) []float64 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := make([]float64, 0, w*h)
	switch m := img.(type) {
	case *image.YCbCr:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			i := m.YOffset(b.Min.X, y)
			for _, v := range m.Y[i : i+w] {
				out = append(out, float64(v))
			}
		}
		return out
	case *image.Gray:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			i := m.PixOffset(b.Min.X, y)
			for _, v := range m.Pix[i : i+w] {
				out = append(out, float64(v))
			}
		}
		return out
	case *image.RGBA: // premultiplied: adding the white left uncovered composites
		for y := b.Min.Y; y < b.Max.Y; y++ {
			i := m.PixOffset(b.Min.X, y)
			for p := m.Pix[i : i+w*4]; len(p) >= 4; p = p[4:] {
				white := 255 - float64(p[3])
				out = append(out, 0.299*(float64(p[0])+white)+0.587*(float64(p[1])+white)+0.114*(float64(p[2])+white))
			}
		}
		return out
	case *image.NRGBA:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			i := m.PixOffset(b.Min.X, y)
			for p := m.Pix[i : i+w*4]; len(p) >= 4; p = p[4:] {
				a := float64(p[3]) / 255
				out = append(out, a*(0.299*float64(p[0])+0.587*float64(p[1])+0.114*float64(p[2]))+(1-a)*255)
			}
		}
		return out
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			// Premultiplied 16-bit: adding the white left uncovered is
			// the composite.
			r, g, bl, a := img.At(x, y).RGBA()
			white := float64(0xffff - a)
			Y := 0.299*(float64(r)+white) + 0.587*(float64(g)+white) + 0.114*(float64(bl)+white)
			out = append(out, Y/257)
		}
	}
	return out
}

// resample scales a w x h grey plane to side x side, one axis at a time.
func resample(g []float64, w, h int) []float64 {
	wx := weights(w, side)
	wy := weights(h, side)
	tmp := make([]float64, h*side) // h rows of side
	for y := range h {
		row := g[y*w : (y+1)*w]
		for x, taps := range wx {
			s := 0.0
			for _, t := range taps {
				s += t.w * row[t.i]
			}
			tmp[y*side+x] = s
		}
	}
	out := make([]float64, side*side)
	for y, taps := range wy {
		for x := range side {
			s := 0.0
			for _, t := range taps {
				s += t.w * tmp[t.i*side+x]
			}
			out[y*side+x] = s
		}
	}
	return out
}

type tap struct {
	i int
	w float64
}

// weights gives, for each of out samples along an axis of n pixels, the
// source pixels it is made of and their weights (summing to 1): the area
// each covers when shrinking, linear interpolation between pixel centres
// when enlarging.
func weights(n, out int) [][]tap {
	ws := make([][]tap, out)
	scale := float64(n) / float64(out)
	for i := range ws {
		if n >= out {
			lo, hi := float64(i)*scale, float64(i+1)*scale
			for j := int(lo); j < n && float64(j) < hi; j++ {
				cover := min(hi, float64(j+1)) - max(lo, float64(j))
				if cover > 0 {
					ws[i] = append(ws[i], tap{j, cover / scale})
				}
			}
			continue
		}
		c := min(float64(n-1), max(0, (float64(i)+0.5)*scale-0.5))
		j := int(c)
		f := c - float64(j)
		ws[i] = append(ws[i], tap{j, 1 - f})
		if f > 0 {
			ws[i] = append(ws[i], tap{j + 1, f})
		}
	}
	return ws
}
