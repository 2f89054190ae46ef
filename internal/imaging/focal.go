package imaging

import (
	"image"
	"math"

	"github.com/ximagepipeline/ximagepipeline/media"
)

// The focal point is estimated on the BlurHash thumbnail (blurSize = 32 px
// wide, opaque, 8-bit sRGB) with a saliency measure in the manner of
// smartcrop.js and libvips' attention strategy: detail (edges in the
// lightness), skin tones and strong colour score each pixel; the map is
// blurred and pulled gently towards the centre; the subject is the
// weighted centre of the part of the map near its maximum; and the focal
// point moves from the picture's centre towards it only as far as the
// peak stands out from the rest of the map.
//
// It is done here in Go rather than with vips_smartcrop: libvips' answer
// is the arg-max of one 32x32 map whose blur depends on the crop size
// asked for, and an earlier attempt found it jumping between distant peaks
// as the analysis size changed (Landscape_1.jpg: x 0.78, 0.44, 0.75, 0.44
// at 32, 64, 128 and 400 px) and answering the top-left corner for images
// with alpha. Here one thumbnail is analysed once per image with a fixed
// blur, a centroid instead of an arg-max, and a confidence instead of a
// threshold, so the result moves smoothly with the pixels: the shared test
// images through the avatar, gallery and hero source types (thumbnails made
// from different sources) agree within 0.04. A photo whose detail is
// spread evenly (the Landscape_N and Portrait_N photos: foliage) keeps
// the centre exactly, so its eight EXIF orientations crop alike. It costs
// about 0.1-0.3 ms (BenchmarkFocalPoint): the thumbnail exists already.
//
// It is a heuristic, not a detector: a face is found by its skin tone, so
// sand, wood and bare earth score as skin too, and a busy background
// competes with a plain subject.
const (
	// focalSkinWeight and focalColourWeight scale the skin and colour
	// scores (0..1 each) against the detail score (the absolute Laplacian
	// of the lightness, 0..4, about 0.1-0.5 on texture).
	focalSkinWeight   = 0.5
	focalColourWeight = 0.5
	// focalBlur is the box blur radius, as a fraction of the thumbnail's
	// longer side; the blur runs twice (about a Gaussian).
	focalBlur = 0.1
	// focalCentreBias lowers the score towards the borders, by up to this
	// fraction at the corners: among equal candidates the centre wins, and
	// a photo's frame edge is seldom its subject.
	focalCentreBias = 0.5
	// focalMinScore is the blurred score under which the picture has no
	// subject (flat, or noise only) and the focal point is the centre.
	focalMinScore = 0.02
	// focalContrastLow and focalContrastHigh bound the ratio of the map's
	// peak to its mean between which the focal point moves from the
	// centre (at or below Low) to the subject (at or above High). Measured
	// on the shared images: the 16 Landscape_N and Portrait_N photos
	// (foliage everywhere) 1.41-1.45, the quadrants picture 1.63, the
	// CMYK street scene 1.78, the tree of 4.webp 1.85, the benchmark photo
	// 2.04, a subject on a plain background 3.5-5.5.
	focalContrastLow  = 1.55
	focalContrastHigh = 2.0
	// focalPeak: the focal point is the centre of the map above this
	// fraction of its maximum.
	focalPeak = 0.75
)

// skinColour is the direction of skin tones in RGB (smartcrop.js).
var skinColour = [3]float64{0.78, 0.57, 0.44}

// focalPoint returns the subject's position in img, 0..1 from the top
// left; the centre when nothing stands out.
func focalPoint(img *image.RGBA) media.Point {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	centre := media.Centre
	if w < 3 || h < 3 {
		return centre
	}
	light := make([]float64, w*h)
	score := make([]float64, w*h)
	for i := range w * h {
		p := img.Pix[i*4:]
		r, g, b := float64(p[0])/255, float64(p[1])/255, float64(p[2])/255
		l := 0.2126*r + 0.7152*g + 0.0722*b
		light[i] = l
		hi, lo := max(r, g, b), min(r, g, b)
		// Colour: chroma above that of dull, greyish surfaces.
		if chroma := hi - lo; chroma > 0.2 && l > 0.05 && l < 0.95 {
			score[i] += focalColourWeight * (chroma - 0.2) / 0.8
		}
		// Skin: how close the colour's direction is to skinColour.
		if mag := math.Sqrt(r*r + g*g + b*b); mag > 0 && l > 0.2 {
			dr, dg, db := r/mag-skinColour[0], g/mag-skinColour[1], b/mag-skinColour[2]
			if skin := 1 - math.Sqrt(dr*dr+dg*dg+db*db); skin > 0.8 {
				score[i] += focalSkinWeight * (skin - 0.8) / 0.2
			}
		}
	}
	at := func(x, y int) float64 { return light[clamp(y, 0, h-1)*w+clamp(x, 0, w-1)] }
	for y := range h {
		for x := range w {
			lap := 4*at(x, y) - at(x-1, y) - at(x+1, y) - at(x, y-1) - at(x, y+1)
			score[y*w+x] += math.Abs(lap)
		}
	}

	r := max(1, int(math.Round(focalBlur*float64(max(w, h)))))
	for range 2 {
		score = boxBlur(score, w, h, r)
	}
	best := -1.0
	for y := range h {
		for x := range w {
			dx, dy := (float64(x)+0.5)/float64(w)*2-1, (float64(y)+0.5)/float64(h)*2-1
			s := score[y*w+x] * (1 - focalCentreBias*(dx*dx+dy*dy)/2)
			score[y*w+x] = s
			if s > best {
				best = s
			}
		}
	}
	if best < focalMinScore {
		return centre
	}
	// How much the peak stands out from the whole picture decides how far
	// the focal point may leave the centre: not at all when the detail is
	// spread evenly (landscapes, foliage), fully for a distinct subject,
	// and in proportion in between, so that it never jumps.
	mean := 0.0
	for _, v := range score {
		mean += v / float64(len(score))
	}
	trust := min(1, max(0, (best/mean-focalContrastLow)/(focalContrastHigh-focalContrastLow)))
	if trust == 0 {
		return centre
	}
	// The weighted centre of everything above focalPeak of the peak: one
	// strong blob gives its own centre; near-equal blobs pull it between
	// them, so that it moves smoothly instead of jumping from one to the
	// other as their scores cross.
	var sum, sx, sy float64
	for y := range h {
		for x := range w {
			if wt := score[y*w+x] - focalPeak*best; wt > 0 {
				sum += wt
				sx += wt * (float64(x) + 0.5)
				sy += wt * (float64(y) + 0.5)
			}
		}
	}
	return media.Point{
		X: 0.5 + trust*(sx/sum/float64(w)-0.5),
		Y: 0.5 + trust*(sy/sum/float64(h)-0.5),
	}
}

// boxBlur averages each value with its neighbours within r, the image's
// border repeated.
func boxBlur(in []float64, w, h, r int) []float64 {
	tmp := make([]float64, len(in))
	out := make([]float64, len(in))
	n := float64(2*r + 1)
	for y := range h {
		for x := range w {
			s := 0.0
			for k := -r; k <= r; k++ {
				s += in[y*w+clamp(x+k, 0, w-1)]
			}
			tmp[y*w+x] = s / n
		}
	}
	for y := range h {
		for x := range w {
			s := 0.0
			for k := -r; k <= r; k++ {
				s += tmp[clamp(y+k, 0, h-1)*w+x]
			}
			out[y*w+x] = s / n
		}
	}
	return out
}
