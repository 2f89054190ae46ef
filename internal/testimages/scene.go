package testimages

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
)

// Scene returns a w x h textured picture that stands in for a photo where
// photos cannot be checked in: a two-colour gradient at a random angle,
// a handful of discs, rectangles and triangles with soft edges, a smooth
// lighting variation and fine grain. Each seed gives a different scene;
// the same seed and size give the same pixels. Its features are placed in
// fractions of the frame, so Scene(seed, 2*w, 2*h) is the same picture at
// twice the size.
func Scene(seed uint64, w, h int) *image.NRGBA {
	rnd := rand.New(rand.NewPCG(seed, 0x5ce7e))
	colour := func() [3]float64 {
		return [3]float64{rnd.Float64() * 255, rnd.Float64() * 255, rnd.Float64() * 255}
	}

	// Background: from one colour to another along a random direction.
	from, to := colour(), colour()
	angle := rnd.Float64() * 2 * math.Pi
	dx, dy := math.Cos(angle), math.Sin(angle)

	// Shapes, in units of the frame (0..1 on each axis).
	type shape struct {
		kind       int // 0 disc, 1 rectangle, 2 triangle
		cx, cy, r  float64
		x0, y0     float64 // rectangle corners / triangle second vertex
		x1, y1     float64
		colour     [3]float64
		startAlpha float64
	}
	shapes := make([]shape, 3+rnd.IntN(5))
	for i := range shapes {
		s := &shapes[i]
		s.kind = rnd.IntN(3)
		s.cx, s.cy = rnd.Float64(), rnd.Float64()
		s.r = 0.08 + rnd.Float64()*0.25
		s.x0, s.y0 = s.cx+(rnd.Float64()-0.5)*0.6, s.cy+(rnd.Float64()-0.5)*0.6
		s.x1, s.y1 = s.cx+(rnd.Float64()-0.5)*0.6, s.cy+(rnd.Float64()-0.5)*0.6
		s.colour = colour()
		s.startAlpha = 0.7 + rnd.Float64()*0.3
	}

	// Lighting: a few broad waves; grain: a hash of the position scaled
	// with the frame, so it does not depend on the size either.
	type wave struct{ fx, fy, phase, amp float64 }
	waves := make([]wave, 3)
	for i := range waves {
		waves[i] = wave{rnd.Float64()*6 - 3, rnd.Float64()*6 - 3, rnd.Float64() * 2 * math.Pi, 6 + rnd.Float64()*10}
	}
	grainSeed := rnd.Uint64()

	edge := 1.5 / float64(min(w, h)) // soft edges about 1.5 px wide
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for py := range h {
		for px := range w {
			x, y := (float64(px)+0.5)/float64(w), (float64(py)+0.5)/float64(h)
			t := min(1, max(0, 0.5+0.7*((x-0.5)*dx+(y-0.5)*dy)))
			var c [3]float64
			for k := range 3 {
				c[k] = from[k] + t*(to[k]-from[k])
			}
			for _, s := range shapes {
				var inside float64 // signed distance, positive inside
				switch s.kind {
				case 0:
					inside = s.r - math.Hypot(x-s.cx, y-s.cy)
				case 1:
					inside = min(x-min(s.cx, s.x0), max(s.cx, s.x0)-x, y-min(s.cy, s.y0), max(s.cy, s.y0)-y)
				case 2:
					inside = triangleInside(x, y, s.cx, s.cy, s.x0, s.y0, s.x1, s.y1)
				}
				a := s.startAlpha * min(1, max(0, 0.5+inside/edge))
				for k := range 3 {
					c[k] += a * (s.colour[k] - c[k])
				}
			}
			light := 0.0
			for _, wv := range waves {
				light += wv.amp * math.Sin(2*math.Pi*(wv.fx*x+wv.fy*y)+wv.phase)
			}
			z := (uint64(x*4096)<<32 | uint64(y*4096)) ^ grainSeed // splitmix64's mixer
			z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
			z = (z ^ z>>27) * 0x94d049bb133111eb
			grain := float64((z^z>>31)>>56)/255*16 - 8
			var out [3]uint8
			for k := range 3 {
				out[k] = uint8(min(255, max(0, math.Round(c[k]+light+grain))))
			}
			img.SetNRGBA(px, py, color.NRGBA{out[0], out[1], out[2], 255})
		}
	}
	return img
}

// triangleInside returns a signed distance-like value for (x, y) and the
// triangle (ax, ay), (bx, by), (cx, cy): positive inside, the distance to
// the nearest edge's line.
func triangleInside(x, y, ax, ay, bx, by, cx, cy float64) float64 {
	side := func(px, py, qx, qy float64) float64 {
		ex, ey := qx-px, qy-py
		n := math.Hypot(ex, ey)
		if n == 0 {
			return -1
		}
		return (ex*(y-py) - ey*(x-px)) / n
	}
	d1, d2, d3 := side(ax, ay, bx, by), side(bx, by, cx, cy), side(cx, cy, ax, ay)
	if (bx-ax)*(cy-ay)-(by-ay)*(cx-ax) < 0 { // clockwise: flip the signs
		d1, d2, d3 = -d1, -d2, -d3
	}
	return min(d1, d2, d3)
}
