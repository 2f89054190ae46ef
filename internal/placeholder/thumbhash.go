// Package placeholder computes what a client shows before an image loads:
// a ThumbHash (a tiny blurred picture with its aspect ratio and alpha, in
// about 25 bytes) and the image's dominant colour. Both work on a small
// thumbnail; the pipeline's 32 px BlurHash thumbnail is enough.
package placeholder

import (
	"image"
	"image/color"
	"math"
)

// ThumbHashMaxSide is the largest side the ThumbHash encoder looks at:
// larger images are first reduced to fit (the format keeps at most 7
// luminance terms per axis, so more pixels add nothing but time).
const ThumbHashMaxSide = 100

// ThumbHash encodes img as a ThumbHash, the placeholder format designed by
// Evan Wallace (https://evanw.github.io/thumbhash/): the average colour, a
// few DCT terms of luminance, two colour-difference channels and, when any
// pixel is not opaque, alpha, quantised to 4 bits each. The bytes are the
// reference encoder's for the same pixels, but for DCT terms that are zero
// in exact arithmetic, which rounding noise may put in either neighbouring
// code, as it does between the reference's own ports. Clients decode them
// with any ThumbHash library (the media JSON would carry them in standard
// base64).
//
// img should be a thumbnail: all its pixels are read into memory before
// an image larger than ThumbHashMaxSide is reduced.
//
// An empty image gives nil.
func ThumbHash(img image.Image) []byte {
	w, h, px := nrgbaPixels(img, ThumbHashMaxSide)
	if w == 0 {
		return nil
	}
	return encodeThumbHash(w, h, px)
}

// encodeThumbHash is the encoder proper, on w x h (each <= 100) NRGBA bytes.
func encodeThumbHash(w, h int, px []byte) []byte {
	n := w * h

	// The average colour, weighted by alpha.
	var avgR, avgG, avgB, avgA float64
	for i := range n {
		p := px[i*4:]
		a := float64(p[3]) / 255
		avgR += a / 255 * float64(p[0])
		avgG += a / 255 * float64(p[1])
		avgB += a / 255 * float64(p[2])
		avgA += a
	}
	if avgA > 0 {
		avgR /= avgA
		avgG /= avgA
		avgB /= avgA
	}

	hasAlpha := avgA < float64(n)
	lLimit := 7 // fewer luminance terms when alpha needs room
	if hasAlpha {
		lLimit = 5
	}
	longest := float64(max(w, h))
	lx := max(1, int(roundHalfUp(float64(lLimit*w)/longest)))
	ly := max(1, int(roundHalfUp(float64(lLimit*h)/longest)))

	// Each pixel composited over the average colour, as luminance (L),
	// yellow-blue (P), red-green (Q) and alpha (A).
	l := make([]float64, n)
	p := make([]float64, n)
	q := make([]float64, n)
	a := make([]float64, n)
	for i := range n {
		s := px[i*4:]
		alpha := float64(s[3]) / 255
		r := avgR*(1-alpha) + alpha/255*float64(s[0])
		g := avgG*(1-alpha) + alpha/255*float64(s[1])
		b := avgB*(1-alpha) + alpha/255*float64(s[2])
		l[i] = (r + g + b) / 3
		p[i] = (r+g)/2 - b
		q[i] = r - g
		a[i] = alpha
	}

	enc := newDCTEncoder(w, h, max(lx, ly, 5))
	lDC, lAC, lScale := enc.channel(l, max(3, lx), max(3, ly))
	pDC, pAC, pScale := enc.channel(p, 3, 3)
	qDC, qAC, qScale := enc.channel(q, 3, 3)
	aDC, aScale := 1.0, 1.0
	var aAC []float64
	if hasAlpha {
		aDC, aAC, aScale = enc.channel(a, 5, 5)
	}

	landscape := w > h
	header24 := uint32(roundHalfUp(63*lDC)) |
		uint32(roundHalfUp(31.5+31.5*pDC))<<6 |
		uint32(roundHalfUp(31.5+31.5*qDC))<<12 |
		uint32(roundHalfUp(31*lScale))<<18
	if hasAlpha {
		header24 |= 1 << 23
	}
	header16 := uint32(lx)
	if landscape {
		header16 = uint32(ly)
	}
	header16 |= uint32(roundHalfUp(63*pScale))<<3 | uint32(roundHalfUp(63*qScale))<<9
	if landscape {
		header16 |= 1 << 15
	}
	hash := []byte{byte(header24), byte(header24 >> 8), byte(header24 >> 16), byte(header16), byte(header16 >> 8)}
	if hasAlpha {
		hash = append(hash, byte(roundHalfUp(15*aDC))|byte(roundHalfUp(15*aScale))<<4)
	}

	// The AC terms, two 4-bit values a byte, low nibble first.
	odd := false
	for _, ac := range [][]float64{lAC, pAC, qAC, aAC} {
		for _, f := range ac {
			u := byte(roundHalfUp(15 * f))
			if odd {
				hash[len(hash)-1] |= u << 4
			} else {
				hash = append(hash, u)
			}
			odd = !odd
		}
	}
	return hash
}

// dctEncoder computes the low-frequency DCT terms of one w x h channel.
type dctEncoder struct {
	w, h int
	cosX [][]float64 // cosX[cx][x], computed as the reference does
	cosY [][]float64 // cosY[cy][y]
}

// newDCTEncoder tabulates the cosines of frequencies below n on each axis.
func newDCTEncoder(w, h, n int) dctEncoder {
	e := dctEncoder{w: w, h: h, cosX: make([][]float64, n), cosY: make([][]float64, n)}
	for k := range n {
		e.cosX[k] = make([]float64, w)
		for x := range w {
			e.cosX[k][x] = math.Cos(math.Pi / float64(w) * float64(k) * (float64(x) + 0.5))
		}
		e.cosY[k] = make([]float64, h)
		for y := range h {
			e.cosY[k][y] = math.Cos(math.Pi / float64(h) * float64(k) * (float64(y) + 0.5))
		}
	}
	return e
}

// channel returns the DC term, the AC terms of the triangle of frequencies
// with cx/nx + cy/ny < 1, normalised to [0, 1] around 0.5, and their
// largest magnitude (the scale that undoes the normalisation).
func (e dctEncoder) channel(c []float64, nx, ny int) (dc float64, ac []float64, scale float64) {
	w, h := e.w, e.h
	ac = make([]float64, 0, nx*ny/2)
	for cy := range ny {
		for cx := 0; cx*ny < nx*(ny-cy); cx++ {
			// Summed in the reference's order, so that terms that are
			// zero round the same way (see thumbhash_test.go).
			fx := e.cosX[cx][:w]
			f := 0.0
			for y, fy := range e.cosY[cy][:h] {
				row := c[y*w : (y+1)*w]
				for x, v := range row {
					f += v * fx[x] * fy
				}
			}
			f /= float64(w * h)
			if cx > 0 || cy > 0 {
				ac = append(ac, f)
				scale = max(scale, math.Abs(f))
			} else {
				dc = f
			}
		}
	}
	if scale > 0 {
		for i := range ac {
			ac[i] = 0.5 + 0.5/scale*ac[i]
		}
	}
	return dc, ac, scale
}

// ThumbHashToRGBA renders a ThumbHash as a small non-premultiplied RGBA
// image, 32 px on its longer side, as the reference decoder does. A hash
// too short for what its header declares gives (0, 0, nil).
func ThumbHashToRGBA(hash []byte) (w, h int, rgba []byte) {
	hd, ok := readThumbHashHeader(hash)
	if !ok {
		return 0, 0, nil
	}

	// The AC terms; colour is boosted by 1.25 to make up for quantisation.
	nibble := 0
	next := func() float64 {
		b := hash[hd.acStart+nibble/2]
		if nibble%2 == 1 {
			b >>= 4
		}
		nibble++
		return float64(b&15)/7.5 - 1
	}
	readChannel := func(nx, ny int, scale float64) []float64 {
		var ac []float64
		for cy := range ny {
			cx := 0
			if cy == 0 {
				cx = 1
			}
			for ; cx*ny < nx*(ny-cy); cx++ {
				ac = append(ac, next()*scale)
			}
		}
		return ac
	}
	lAC := readChannel(hd.lx, hd.ly, hd.lScale)
	pAC := readChannel(3, 3, hd.pScale*1.25)
	qAC := readChannel(3, 3, hd.qScale*1.25)
	var aAC []float64
	if hd.hasAlpha {
		aAC = readChannel(5, 5, hd.aScale)
	}

	ratio := hd.aspectRatio()
	if ratio > 1 {
		w, h = 32, int(roundHalfUp(32/ratio))
	} else {
		w, h = int(roundHalfUp(32*ratio)), 32
	}
	nCos := max(hd.lx, hd.ly, 3)
	if hd.hasAlpha {
		nCos = max(nCos, 5)
	}
	cosX := make([]float64, w*nCos) // cosX[x*nCos+cx]
	for x := range w {
		for cx := range nCos {
			cosX[x*nCos+cx] = math.Cos(math.Pi / float64(w) * (float64(x) + 0.5) * float64(cx))
		}
	}
	fy := make([]float64, nCos)
	rgba = make([]byte, 0, w*h*4)
	for y := range h {
		for cy := range fy {
			fy[cy] = math.Cos(math.Pi / float64(h) * (float64(y) + 0.5) * float64(cy))
		}
		for x := range w {
			fx := cosX[x*nCos : (x+1)*nCos]
			l := hd.lDC + sumAC(lAC, hd.lx, hd.ly, fx, fy)
			p := hd.pDC
			q := hd.qDC
			j := 0
			for cy := range 3 {
				cx := 0
				if cy == 0 {
					cx = 1
				}
				fy2 := fy[cy] * 2
				for ; cx < 3-cy; cx++ {
					f := fx[cx] * fy2
					p += pAC[j] * f
					q += qAC[j] * f
					j++
				}
			}
			a := hd.aDC
			if hd.hasAlpha {
				a += sumAC(aAC, 5, 5, fx, fy)
			}
			b := l - 2.0/3.0*p
			r := (3*l - b + q) / 2
			g := r - q
			rgba = append(rgba, unit8(r), unit8(g), unit8(b), unit8(a))
		}
	}
	return w, h, rgba
}

// sumAC adds up one channel's AC terms at a pixel whose cosines are fx, fy.
func sumAC(ac []float64, nx, ny int, fx, fy []float64) float64 {
	s, j := 0.0, 0
	for cy := range ny {
		cx := 0
		if cy == 0 {
			cx = 1
		}
		fy2 := fy[cy] * 2
		for ; cx*ny < nx*(ny-cy); cx++ {
			s += ac[j] * fx[cx] * fy2
			j++
		}
	}
	return s
}

// ThumbHashAverage returns the average colour a ThumbHash records (its DC
// terms), without rendering it. A hash shorter than its header gives the
// zero colour.
func ThumbHashAverage(hash []byte) color.NRGBA {
	hd, ok := readThumbHashHeader(hash)
	if !ok {
		return color.NRGBA{}
	}
	b := hd.lDC - 2.0/3.0*hd.pDC
	r := (3*hd.lDC - b + hd.qDC) / 2
	g := r - hd.qDC
	return color.NRGBA{R: unit8Round(r), G: unit8Round(g), B: unit8Round(b), A: unit8Round(hd.aDC)}
}

// ThumbHashAspectRatio returns the approximate width/height of the image a
// ThumbHash was made from (it is recorded as a ratio of small integers, so
// 16:9 reads back as 7:4), or 0 for a hash shorter than its header.
func ThumbHashAspectRatio(hash []byte) float64 {
	hd, ok := readThumbHashHeader(hash)
	if !ok {
		return 0
	}
	return hd.aspectRatio()
}

// thumbHashHeader is the fixed part of a ThumbHash.
type thumbHashHeader struct {
	lDC, pDC, qDC, aDC             float64
	lScale, pScale, qScale, aScale float64
	hasAlpha, landscape            bool
	lx, ly                         int // luminance terms per axis, at least 3
	lMin                           int // the shorter axis's count as stored
	acStart                        int // index of the first AC byte
}

func (hd thumbHashHeader) aspectRatio() float64 {
	lMax := 7
	if hd.hasAlpha {
		lMax = 5
	}
	if hd.landscape {
		return float64(lMax) / float64(hd.lMin)
	}
	return float64(hd.lMin) / float64(lMax)
}

// readThumbHashHeader parses the header and checks that hash is long
// enough for the AC terms it declares.
func readThumbHashHeader(hash []byte) (thumbHashHeader, bool) {
	var hd thumbHashHeader
	if len(hash) < 5 {
		return hd, false
	}
	header24 := uint32(hash[0]) | uint32(hash[1])<<8 | uint32(hash[2])<<16
	header16 := uint32(hash[3]) | uint32(hash[4])<<8
	hd.lDC = float64(header24&63) / 63
	hd.pDC = float64((header24>>6)&63)/31.5 - 1
	hd.qDC = float64((header24>>12)&63)/31.5 - 1
	hd.lScale = float64((header24>>18)&31) / 31
	hd.hasAlpha = header24>>23 != 0
	hd.pScale = float64((header16>>3)&63) / 63
	hd.qScale = float64((header16>>9)&63) / 63
	hd.landscape = header16>>15 != 0
	hd.lMin = int(header16 & 7)
	if hd.lMin == 0 {
		return hd, false // no encoder writes 0: the aspect ratio would be 0 or infinite
	}
	lMax := 7
	if hd.hasAlpha {
		lMax = 5
	}
	hd.lx, hd.ly = max(3, hd.lMin), max(3, lMax)
	if hd.landscape {
		hd.lx, hd.ly = max(3, lMax), max(3, hd.lMin)
	}
	hd.aDC, hd.aScale = 1, 1
	hd.acStart = 5
	nAC := triangle(hd.lx, hd.ly) + 2*triangle(3, 3)
	if hd.hasAlpha {
		if len(hash) < 6 {
			return hd, false
		}
		hd.aDC = float64(hash[5]&15) / 15
		hd.aScale = float64(hash[5]>>4) / 15
		hd.acStart = 6
		nAC += triangle(5, 5)
	}
	if len(hash) < hd.acStart+(nAC+1)/2 {
		return hd, false
	}
	return hd, true
}

// triangle counts the AC terms of an nx x ny channel: the frequencies with
// cx/nx + cy/ny < 1, less the DC term.
func triangle(nx, ny int) int {
	n := 0
	for cy := range ny {
		for cx := 0; cx*ny < nx*(ny-cy); cx++ {
			n++
		}
	}
	return n - 1
}

// roundHalfUp rounds halves up, as JavaScript's Math.round (the reference
// encoder's rounding) does; math.Round rounds them away from zero.
func roundHalfUp(v float64) float64 {
	f := math.Floor(v)
	if v-f >= 0.5 {
		return f + 1
	}
	return f
}

// unit8 maps [0, 1] to a byte, truncating as the reference decoder does.
func unit8(v float64) byte { return byte(255 * min(1, max(0, v))) }

// unit8Round maps [0, 1] to the nearest byte.
func unit8Round(v float64) byte { return byte(math.Round(255 * min(1, max(0, v)))) }
