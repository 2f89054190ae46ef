package placeholder

import (
	"image"
	"image/color"
	"math"
)

// nrgbaPixels returns img's pixels as 8-bit non-premultiplied RGBA, row by
// row, reduced by area averaging to fit within maxSide x maxSide (keeping
// the aspect ratio) when it is larger. The common decoder outputs are read
// directly; any other image goes through its colour model.
func nrgbaPixels(img image.Image, maxSide int) (w, h int, px []byte) {
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return 0, 0, nil
	}
	if w <= maxSide && h <= maxSide {
		return w, h, readNRGBA(img)
	}
	outW, outH := maxSide, maxSide
	if w > h {
		outH = max(1, int(math.Round(float64(h)*float64(maxSide)/float64(w))))
	} else {
		outW = max(1, int(math.Round(float64(w)*float64(maxSide)/float64(h))))
	}
	return outW, outH, reduce(readNRGBA(img), w, h, outW, outH)
}

// readNRGBA copies img into a tight non-premultiplied RGBA buffer.
func readNRGBA(img image.Image) []byte {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	px := make([]byte, 0, w*h*4)
	switch m := img.(type) {
	case *image.NRGBA:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			i := m.PixOffset(b.Min.X, y)
			px = append(px, m.Pix[i:i+w*4]...)
		}
		return px
	case *image.YCbCr:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				yi, ci := m.YOffset(x, y), m.COffset(x, y)
				r, g, bl := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				px = append(px, r, g, bl, 255)
			}
		}
		return px
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			px = append(px, c.R, c.G, c.B, c.A)
		}
	}
	return px
}

// reduce shrinks a w x h NRGBA buffer to outW x outH by area averaging:
// each output pixel is the mean of the source area it covers, weighted by
// coverage and, for the colour, by alpha (so transparent pixels lend no
// colour to their neighbours).
func reduce(px []byte, w, h, outW, outH int) []byte {
	xs := spans(w, outW)
	ys := spans(h, outH)
	out := make([]byte, outW*outH*4)
	for oy, sy := range ys {
		for ox, sx := range xs {
			var r, g, b, a, area float64
			for y := sy.first; y <= sy.last; y++ {
				wy := sy.weight(y)
				for x := sx.first; x <= sx.last; x++ {
					wxy := wy * sx.weight(x)
					p := px[(y*w+x)*4:]
					pa := float64(p[3]) * wxy
					r += float64(p[0]) * pa
					g += float64(p[1]) * pa
					b += float64(p[2]) * pa
					a += pa
					area += wxy
				}
			}
			o := out[(oy*outW+ox)*4:]
			if a > 0 {
				o[0] = byte(math.Round(r / a))
				o[1] = byte(math.Round(g / a))
				o[2] = byte(math.Round(b / a))
			}
			o[3] = byte(math.Round(a / area))
		}
	}
	return out
}

// span is the run of source pixels one output pixel covers, with the
// covered fractions of its first and last pixel.
type span struct {
	first, last         int
	firstPart, lastPart float64
}

func (s span) weight(i int) float64 {
	switch i {
	case s.first:
		return s.firstPart
	case s.last:
		return s.lastPart
	}
	return 1
}

// spans divides n source pixels among out output pixels (out <= n).
func spans(n, out int) []span {
	s := make([]span, out)
	scale := float64(n) / float64(out)
	for i := range s {
		lo, hi := float64(i)*scale, float64(i+1)*scale
		first := int(lo)
		last := min(n-1, int(math.Ceil(hi))-1)
		s[i] = span{first: first, last: last}
		if first == last {
			s[i].firstPart = hi - lo
			s[i].lastPart = hi - lo
			continue
		}
		s[i].firstPart = float64(first+1) - lo
		s[i].lastPart = hi - float64(last)
	}
	return s
}
