package imaging

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// testImagesDir holds the shared real-world images (see its ATTRIBUTION.md).
const testImagesDir = "../../../shared/testdata/images"

// readTestImage returns a shared test image, skipping the test when the
// shared folder is absent (e.g. the module checked out on its own).
func readTestImage(tb testing.TB, name string) []byte {
	tb.Helper()
	if _, err := os.Stat(testImagesDir); err != nil {
		tb.Skipf("shared test images not found at %s (they live beside the module in the project workspace): %v", testImagesDir, err)
	}
	b, err := os.ReadFile(filepath.Join(testImagesDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Secrets planted in generated images' metadata; no output may contain them.
var secrets = []string{"exif-secret", "gps-secret", "xmp-secret", "comment-secret", "text-secret"}

// quadrants is an upright test picture whose four quadrants have distinct
// colours, so that any rotation or mirror is visible.
var quadrantColours = [4]color.RGBA{
	{220, 30, 30, 255},   // top left: red
	{30, 200, 30, 255},   // top right: green
	{30, 30, 220, 255},   // bottom left: blue
	{240, 240, 240, 255}, // bottom right: white
}

func quadrants(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			q := 0
			if x >= w/2 {
				q++
			}
			if y >= h/2 {
				q += 2
			}
			img.SetRGBA(x, y, quadrantColours[q])
		}
	}
	return img
}

// display applies EXIF orientation o to a stored image, as a viewer does.
func display(s image.Image, o int) *image.RGBA {
	b := s.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	d := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := range dh {
		for x := range dw {
			sx, sy := orientSource(o, x, y, w, h)
			d.Set(x, y, s.At(b.Min.X+sx, b.Min.Y+sy))
		}
	}
	return d
}

// orientSource returns the stored pixel shown at (x, y) under EXIF
// orientation o, for a stored image of w x h.
func orientSource(o, x, y, w, h int) (int, int) {
	switch o {
	case 2:
		return w - 1 - x, y
	case 3:
		return w - 1 - x, h - 1 - y
	case 4:
		return x, h - 1 - y
	case 5:
		return y, x
	case 6:
		return y, h - 1 - x
	case 7:
		return w - 1 - y, h - 1 - x
	case 8:
		return w - 1 - y, x
	}
	return x, y
}

// stored returns what a camera stores for upright picture u with EXIF
// orientation o: 6 and 8 undo each other, the others undo themselves.
func stored(u image.Image, o int) *image.RGBA {
	inv := map[int]int{6: 8, 8: 6}[o]
	if inv == 0 {
		inv = o
	}
	return display(u, inv)
}

// exifSegment builds an APP1 EXIF segment (little-endian TIFF) with an
// orientation, an image description and a GPS IFD holding a map datum.
func exifSegment(orientation int) []byte {
	le := binary.LittleEndian
	desc := []byte("exif-secret\x00")
	datum := []byte("gps-secret\x00")
	// Layout: header 8 | IFD0 (3 entries) at 8 | GPS IFD (1 entry) | strings.
	ifd0 := 8
	gps := ifd0 + 2 + 3*12 + 4
	strs := gps + 2 + 1*12 + 4
	t := make([]byte, strs)
	copy(t, "II*\x00")
	le.PutUint32(t[4:], uint32(ifd0))
	entry := func(at int, tag, typ uint16, count, value uint32) {
		le.PutUint16(t[at:], tag)
		le.PutUint16(t[at+2:], typ)
		le.PutUint32(t[at+4:], count)
		le.PutUint32(t[at+8:], value)
	}
	le.PutUint16(t[ifd0:], 3)
	entry(ifd0+2, 0x010E, 2, uint32(len(desc)), uint32(strs)) // ImageDescription
	entry(ifd0+14, 0x0112, 3, 1, uint32(orientation))         // Orientation
	entry(ifd0+26, 0x8825, 4, 1, uint32(gps))                 // GPS IFD
	le.PutUint16(t[gps:], 1)
	entry(gps+2, 0x0012, 2, uint32(len(datum)), uint32(strs+len(desc))) // GPSMapDatum
	t = append(append(t, desc...), datum...)
	return segment(0xE1, append([]byte("Exif\x00\x00"), t...))
}

func segment(marker byte, payload []byte) []byte {
	s := []byte{0xFF, marker, 0, 0}
	binary.BigEndian.PutUint16(s[2:], uint16(len(payload)+2))
	return append(s, payload...)
}

// makeJPEG encodes img and plants EXIF (with orientation and GPS), XMP and
// a comment right after SOI.
func makeJPEG(t testing.TB, img image.Image, orientation int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	meta := exifSegment(orientation)
	meta = append(meta, segment(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>xmp-secret</x:xmpmeta>"))...)
	meta = append(meta, segment(0xFE, []byte("comment-secret"))...)
	src := b.Bytes()
	return append(append([]byte{0xFF, 0xD8}, meta...), src[2:]...)
}

func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(append(c, typ...), data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// makePNG encodes img and plants tEXt, iTXt and eXIf chunks after IHDR.
func makePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	src := b.Bytes()
	ihdrEnd := 8 + 12 + 13
	meta := pngChunk("tEXt", []byte("Comment\x00text-secret"))
	meta = append(meta, pngChunk("iTXt", []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00xmp-secret"))...)
	meta = append(meta, pngChunk("eXIf", exifSegment(1)[10:])...)
	return append(append(append([]byte{}, src[:ihdrEnd]...), meta...), src[ihdrEnd:]...)
}

// withWebPMetadata wraps a still WebP's image chunk (VP8 or VP8L) in a VP8X container
// with EXIF and XMP chunks.
func withWebPMetadata(t testing.TB, simple []byte, w, h int) []byte {
	t.Helper()
	chunk := func(fourcc string, data []byte) []byte {
		c := append([]byte(fourcc), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
		c = append(c, data...)
		if len(data)%2 == 1 {
			c = append(c, 0)
		}
		return c
	}
	vp8x := []byte{0x08 | 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	vp8x[4], vp8x[5], vp8x[6] = byte(w-1), byte((w-1)>>8), byte((w-1)>>16)
	vp8x[7], vp8x[8], vp8x[9] = byte(h-1), byte((h-1)>>8), byte((h-1)>>16)
	body := append([]byte("WEBP"), chunk("VP8X", vp8x)...)
	image := simple[12:]
	if string(image[:4]) == "VP8X" { // keep only the image chunk
		image = image[8+10:]
	}
	body = append(body, image...)
	body = append(body, chunk("EXIF", exifSegment(1)[10:])...)
	body = append(body, chunk("XMP ", []byte("<x:xmpmeta>xmp-secret</x:xmpmeta>"))...)
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}

// decodeForTest decodes any supported image to upright 8-bit sRGB pixels
// at the given width, through the same libvips path as Process.
func decodeForTest(t testing.TB, data []byte, width int) *image.RGBA {
	t.Helper()
	Start(Config{})
	buf := newCBuffer(data)
	defer buf.free()
	img, err := decode(buf, width, plainRGB)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	px, err := img.Pixels()
	if err != nil {
		t.Fatal(err)
	}
	return onWhite(px, img.Width(), img.Height(), img.Bands())
}

// meanDiff is the mean absolute difference per channel (0-255) of two
// images of the same size.
func meanDiff(a, b *image.RGBA) float64 {
	sum := 0
	for i := range a.Pix {
		sum += max(int(a.Pix[i])-int(b.Pix[i]), int(b.Pix[i])-int(a.Pix[i]))
	}
	return float64(sum) / float64(len(a.Pix)) * 4 / 3
}

func meanColour(img *image.RGBA) [3]float64 {
	var m [3]float64
	n := float64(len(img.Pix) / 4)
	for i := 0; i < len(img.Pix); i += 4 {
		for c := range 3 {
			m[c] += float64(img.Pix[i+c]) / n
		}
	}
	return m
}

// assertNoMetadata parses an output and fails on any metadata container,
// and on any planted secret anywhere in the bytes.
func assertNoMetadata(t *testing.T, format string, data []byte) {
	t.Helper()
	for _, s := range secrets {
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("%s output contains %q", format, s)
		}
	}
	switch format {
	case "webp":
		for i := 12; i+8 <= len(data); {
			fourcc := string(data[i : i+4])
			if fourcc == "EXIF" || fourcc == "XMP " || fourcc == "ICCP" {
				t.Errorf("webp output has a %s chunk", fourcc)
			}
			n := int(binary.LittleEndian.Uint32(data[i+4:]))
			i += 8 + n + n&1
		}
	case "jpeg":
		for i := 2; i+4 <= len(data) && data[i] == 0xFF && data[i+1] != 0xDA; {
			m := data[i+1]
			if m == 0xE1 || m == 0xE2 || m == 0xED || m == 0xFE {
				t.Errorf("jpeg output has marker %X", m)
			}
			i += 2 + int(binary.BigEndian.Uint16(data[i+2:]))
		}
	case "png":
		for i := 8; i+8 <= len(data); {
			typ := string(data[i+4 : i+8])
			switch typ {
			case "eXIf", "tEXt", "iTXt", "zTXt", "iCCP", "tIME":
				t.Errorf("png output has a %s chunk", typ)
			}
			i += 12 + int(binary.BigEndian.Uint32(data[i:]))
		}
	}
}

// Mean sRGB colour of Channel_digital_image_CMYK_color.jpg after
// `vips icc_transform in.jpg out.v srgb --embedded` (libvips 8.14).
const cmykRefR, cmykRefG, cmykRefB = 128.35, 132.99, 123.01

// readOptional returns a shared test image, or nil when absent.
func readOptional(name string) []byte {
	b, _ := os.ReadFile(filepath.Join(testImagesDir, name))
	return b
}
