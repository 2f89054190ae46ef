package phash

import (
	"bytes"
	"image"
	"image/draw"
	"image/jpeg"
	"math"
	"slices"

	xdraw "golang.org/x/image/draw"
)

// A variant is a copy of a picture made the way copies of photos are made.
type variant struct {
	name string
	make func(image.Image) image.Image
}

// recodings are copies that keep the whole picture: a near-duplicate
// search must find them, within NearDuplicate of the picture they were
// made from.
var recodings = []variant{
	{"JPEG quality 50", reencoded(50)},
	{"JPEG quality 95", reencoded(95)},
	{"resized 50%", resized(0.5)},
	{"resized 200%", resized(2)},
	{"brighter by 8%", brightness(1.08, 0)},
	{"darker by 12 levels", brightness(1, -12)},
}

// lightCrops lose 2-5% of the width or height in all: required of the
// synthetic scenes, reported for the real photos.
var lightCrops = []variant{
	{"cropped 2% all round", cropped(0.02, 0.02, 0.02, 0.02)},
	{"cropped 2.5% off the left and right", cropped(0.025, 0, 0.025, 0)},
	{"cropped 2% off the left", cropped(0.02, 0, 0, 0)},
	{"cropped 3% off the top", cropped(0, 0.03, 0, 0)},
}

// heavyCrops move the picture in the frame further than the hash's 8x8
// lowest frequencies can follow: reported, never required.
var heavyCrops = []variant{
	{"cropped 5% off the left", cropped(0.05, 0, 0, 0)},
	{"cropped 5% off the right and bottom", cropped(0, 0, 0.05, 0.05)},
	{"cropped 5% all round", cropped(0.05, 0.05, 0.05, 0.05)},
}

// allVariants lists every variant, the required ones first.
func allVariants() []variant { return slices.Concat(recodings, lightCrops, heavyCrops) }

// reencoded saves the picture as a JPEG and decodes it again. JPEG has no
// alpha, so it is flattened on white first, as the pipeline flattens for
// its own summaries (the Go encoder would drop alpha onto black).
func reencoded(quality int) func(image.Image) image.Image {
	return func(img image.Image) image.Image {
		flat := image.NewNRGBA(img.Bounds())
		draw.Draw(flat, flat.Bounds(), image.White, image.Point{}, draw.Src)
		draw.Draw(flat, flat.Bounds(), img, img.Bounds().Min, draw.Over)
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, flat, &jpeg.Options{Quality: quality}); err != nil {
			panic(err) // encoding an in-memory image to memory does not fail
		}
		out, err := jpeg.Decode(&buf)
		if err != nil {
			panic(err) // nor does decoding what was just encoded
		}
		return out
	}
}

func resized(f float64) func(image.Image) image.Image {
	return func(img image.Image) image.Image {
		b := img.Bounds()
		return scale(img, int(math.Round(float64(b.Dx())*f)), int(math.Round(float64(b.Dy())*f)))
	}
}

// scale resizes with Catmull-Rom, a filter of the kind image libraries
// (libvips among them) shrink and enlarge with.
func scale(img image.Image, w, h int) *image.NRGBA {
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	xdraw.CatmullRom.Scale(out, out.Bounds(), img, img.Bounds(), xdraw.Src, nil)
	return out
}

// brightness maps each channel v to v*gain + offset.
func brightness(gain, offset float64) func(image.Image) image.Image {
	return func(img image.Image) image.Image {
		b := img.Bounds()
		out := image.NewNRGBA(b)
		draw.Draw(out, b, img, b.Min, draw.Src)
		f := func(v uint8) uint8 { return uint8(min(255, max(0, math.Round(float64(v)*gain+offset)))) }
		for i := 0; i < len(out.Pix); i += 4 {
			p := out.Pix[i : i+4]
			p[0], p[1], p[2] = f(p[0]), f(p[1]), f(p[2])
		}
		return out
	}
}

// cropped cuts the given fractions of the width or height off each side.
func cropped(left, top, right, bottom float64) func(image.Image) image.Image {
	return func(img image.Image) image.Image {
		b := img.Bounds()
		w, h := float64(b.Dx()), float64(b.Dy())
		r := image.Rect(b.Min.X+int(left*w), b.Min.Y+int(top*h), b.Max.X-int(right*w), b.Max.Y-int(bottom*h))
		out := image.NewNRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
		draw.Draw(out, out.Bounds(), img, r.Min, draw.Src)
		return out
	}
}

// thumbnail is what the pipeline hands Hash: the picture width px wide.
func thumbnail(img image.Image, width int) image.Image {
	b := img.Bounds()
	return scale(img, width, max(1, int(math.Round(float64(b.Dy())*float64(width)/float64(b.Dx())))))
}
