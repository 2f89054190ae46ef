// Command mkimages makes, from the benchmark photo, the two larger test
// images bench/run.sh measures beside it, since the real-world ones in
// ../shared/testdata/images with an EXIF orientation or alpha are small
// (450x600 and 256x192, smaller than most variants, which never enlarge):
//
//   - DIR/portrait-exif6.jpg: a 1669x2225 portrait crop of the photo stored
//     as a phone stores it, on its side (2225x1669) with EXIF orientation 6
//     (rotate 90 degrees clockwise to show), JPEG quality 90;
//
//   - DIR/alpha-1600.png: the photo at 1600x1307 with an alpha channel, an
//     ellipse with a soft 60 px edge (a cut-out), RGBA PNG.
//
//     mkimages -out DIR PHOTO.jpg
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"

	"golang.org/x/image/draw"
)

func main() {
	out := flag.String("out", ".", "directory for the images")
	flag.Parse()
	f, err := os.Open(flag.Arg(0))
	check(err)
	src, err := jpeg.Decode(f)
	check(err)
	f.Close()
	check(os.MkdirAll(*out, 0o755))

	// Portrait: the middle 3:4 of the photo, stored rotated 90 degrees
	// counter-clockwise with orientation 6.
	b := src.Bounds()
	h := b.Dy()
	w := h * 3 / 4
	x0 := b.Min.X + (b.Dx()-w)/2
	stored := image.NewRGBA(image.Rect(0, 0, h, w))
	for y := range h {
		for x := range w {
			// upright (x, y) -> stored (y, w-1-x)
			stored.Set(y, w-1-x, src.At(x0+x, b.Min.Y+y))
		}
	}
	var jb bytes.Buffer
	check(jpeg.Encode(&jb, stored, &jpeg.Options{Quality: 90}))
	check(os.WriteFile(filepath.Join(*out, "portrait-exif6.jpg"), withOrientation(jb.Bytes(), 6), 0o644))

	// Alpha: 1600 px wide, an ellipse with a soft edge.
	aw := 1600
	ah := int(math.Round(float64(b.Dy()) * float64(aw) / float64(b.Dx())))
	small := image.NewRGBA(image.Rect(0, 0, aw, ah))
	draw.CatmullRom.Scale(small, small.Bounds(), src, b, draw.Src, nil)
	cut := image.NewNRGBA(small.Bounds())
	cx, cy := float64(aw)/2, float64(ah)/2
	for y := range ah {
		for x := range aw {
			dx, dy := (float64(x)+0.5-cx)/(cx-10), (float64(y)+0.5-cy)/(cy-10)
			// distance past the ellipse, in pixels, roughly
			d := (math.Sqrt(dx*dx+dy*dy) - 1) * min(cx, cy)
			a := math.Max(0, math.Min(1, 0.5-d/60))
			c := small.RGBAAt(x, y)
			cut.SetNRGBA(x, y, color.NRGBA{c.R, c.G, c.B, uint8(math.Round(a * 255))})
		}
	}
	pf, err := os.Create(filepath.Join(*out, "alpha-1600.png"))
	check(err)
	check(png.Encode(pf, cut))
	check(pf.Close())
}

// withOrientation inserts an EXIF APP1 segment holding only the
// orientation tag right after the SOI marker of a JPEG.
func withOrientation(j []byte, orientation uint16) []byte {
	var tiff bytes.Buffer
	le := binary.LittleEndian
	tiff.WriteString("II")
	binary.Write(&tiff, le, uint16(42))
	binary.Write(&tiff, le, uint32(8))           // IFD0 offset
	binary.Write(&tiff, le, uint16(1))           // one entry
	binary.Write(&tiff, le, uint16(0x0112))      // Orientation
	binary.Write(&tiff, le, uint16(3))           // SHORT
	binary.Write(&tiff, le, uint32(1))           // count
	binary.Write(&tiff, le, uint32(orientation)) // value, left-justified
	binary.Write(&tiff, le, uint32(0))           // no next IFD
	payload := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	seg = append(seg, payload...)
	out := append([]byte{}, j[:2]...)
	out = append(out, seg...)
	return append(out, j[2:]...)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimages:", err)
		os.Exit(1)
	}
}
