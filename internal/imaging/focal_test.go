package imaging

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
	"github.com/ximagepipeline/ximagepipeline/media"
)

var avatarVariants = []media.Variant{
	cover("xs", 64, 64),
	cover("sm", 150, 150),
}

// subjectPicture is a flat, dull background of w x h with one subject
// disc of radius r centred at (cx, cy), painted by paint (given the offset
// from the disc's centre). transparent leaves the background see-through.
func subjectPicture(w, h, cx, cy, r int, transparent bool, paint func(dx, dy int) color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	bg := color.RGBA{128, 122, 112, 255} // dull grey-beige
	if transparent {
		bg = color.RGBA{}
	}
	for y := range h {
		for x := range w {
			dx, dy := x-cx, y-cy
			if dx*dx+dy*dy <= r*r {
				img.SetRGBA(x, y, paint(dx, dy))
			} else {
				img.SetRGBA(x, y, bg)
			}
		}
	}
	return img
}

// checkered is a detailed, saturated subject: red and yellow squares.
func checkered(dx, dy int) color.RGBA {
	if (dx+1000)/12%2 == (dy+1000)/12%2 {
		return color.RGBA{230, 30, 40, 255}
	}
	return color.RGBA{250, 210, 20, 255}
}

// face is a skin-coloured disc of radius r with dark eyes and mouth.
func face(r int) func(dx, dy int) color.RGBA {
	return func(dx, dy int) color.RGBA {
		eye := func(ex int) bool {
			x, y := dx-ex, dy+r/3
			return x*x+y*y <= r*r/49
		}
		mouth := dy > r/3 && dy < r/2 && dx > -r/3 && dx < r/3
		if eye(-r/3) || eye(r/3) || mouth {
			return color.RGBA{60, 35, 30, 255}
		}
		return color.RGBA{224, 172, 140, 255}
	}
}

func isSaturated(c color.RGBA) bool {
	return int(max(c.R, c.G, c.B))-int(min(c.R, c.G, c.B)) > 120
}

func isSkin(c color.RGBA) bool {
	return absDiff(c.R, 224) < 30 && absDiff(c.G, 172) < 30 && absDiff(c.B, 140) < 30
}

// TestProcessFocalPoint checks that the focal point finds an off-centre
// subject and that the avatar's cover crops keep it, by counting the
// subject's pixels in the decoded crops.
func TestProcessFocalPoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		src       []byte
		want      media.Point
		isSubject func(color.RGBA) bool
		share     float64 // of the subject in a square crop of the whole height (or width)
	}{
		{
			name:      "saturated detail near the right edge",
			src:       testimages.TaggedJPEG(subjectPicture(900, 300, 765, 150, 70, false, checkered), 1),
			want:      media.Point{X: 0.85, Y: 0.5},
			isSubject: isSaturated,
			share:     math.Pi * 70 * 70 / (300 * 300),
		},
		{
			name:      "face near the top of a portrait",
			src:       testimages.TaggedJPEG(subjectPicture(300, 900, 150, 170, 60, false, face(60)), 1),
			want:      media.Point{X: 0.5, Y: 170.0 / 900},
			isSubject: isSkin,
			share:     math.Pi * 60 * 60 * 0.85 / (300 * 300), // less the eyes and mouth
		},
		{
			name:      "subject on transparency near the left",
			src:       testimages.PNG(subjectPicture(900, 300, 120, 150, 70, true, checkered)),
			want:      media.Point{X: 120.0 / 900, Y: 0.5},
			isSubject: isSaturated,
			share:     math.Pi * 70 * 70 / (300 * 300),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := run(context.Background(), tc.src, media.SourceType{}, avatarVariants...)
			if err != nil {
				t.Fatal(err)
			}
			fp := res.FocalPoint
			if math.Abs(fp.X-tc.want.X) > 0.06 || math.Abs(fp.Y-tc.want.Y) > 0.06 {
				t.Errorf("focal point %.3f, want %.3f within 0.06", fp, tc.want)
			}
			for _, v := range res.Variants {
				img := decodeForTest(t, v.Data, v.Width)
				n := 0
				for y := range v.Height {
					for x := range v.Width {
						if tc.isSubject(img.RGBAAt(x, y)) {
							n++
						}
					}
				}
				// Resampling blurs the subject's rim and the checks; a
				// centre crop would hold none of it.
				if got := float64(n) / float64(v.Width*v.Height); got < 0.75*tc.share {
					t.Errorf("%s: subject covers %.3f of the crop, want about %.3f", v.Name, got, tc.share)
				}
			}

			// The same image through another source type (the thumbnail made
			// from an inside variant instead of the base) agrees.
			other, err := run(context.Background(), tc.src, media.SourceType{}, inside("md", 400))
			if err != nil {
				t.Fatal(err)
			}
			if d := math.Hypot(other.FocalPoint.X-fp.X, other.FocalPoint.Y-fp.Y); d > 0.02 {
				t.Errorf("focal point %.3f from the md variant, %.3f from the base", other.FocalPoint, fp)
			}
		})
	}
}

// TestFocalPointNoSubject: flat or evenly patterned pictures keep the
// centre.
func TestFocalPointNoSubject(t *testing.T) {
	t.Parallel()
	flat := subjectPicture(64, 48, -100, -100, 1, false, checkered)
	if got := focalPoint(flat); got != (media.Point{X: 0.5, Y: 0.5}) {
		t.Errorf("flat picture: focal point %v, want the centre", got)
	}
	// The quadrants picture is symmetric but for its colours: near the centre.
	if got := focalPoint(toRGBA(testimages.Quadrants(32, 24))); math.Abs(got.X-0.5) > 0.1 || math.Abs(got.Y-0.5) > 0.1 {
		t.Errorf("quadrants: focal point %v, want near the centre", got)
	}
}

// TestFocalPointStable: the same picture stored in each of the eight EXIF
// orientations gets about the same focal point (of the upright picture).
func TestFocalPointStable(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"Landscape", "Portrait"} {
		var pts []media.Point
		for o := 1; o <= 8; o++ {
			res, err := run(context.Background(), testimages.Shared(t, fmt.Sprintf("%s_%d.jpg", kind, o)), media.SourceType{}, avatarVariants...)
			if err != nil {
				t.Fatal(err)
			}
			pts = append(pts, res.FocalPoint)
		}
		for o, p := range pts {
			if d := math.Hypot(p.X-pts[0].X, p.Y-pts[0].Y); d > 0.08 {
				t.Errorf("%s_%d: focal point %.3f, %s_1 %.3f", kind, o+1, p, kind, pts[0])
			}
		}
	}
}
