package imaging

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/color"
	"image/draw"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/imagefile"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
	"github.com/ximagepipeline/ximagepipeline/internal/vips"
	"github.com/ximagepipeline/ximagepipeline/media"
)

// secrets are the markers testimages plants in metadata: no output may
// contain any of them.
var secrets = []string{testimages.CameraMake, testimages.XMPMarker, testimages.CommentMarker, testimages.IPTCMarker, testimages.TextMarker, webpScriptMarker}

// webpScriptMarker is in an unknown chunk of withWebPMetadata's files.
const webpScriptMarker = "xip-webp-script"

// allTypes lists every type imaging decodes: the tests process AVIF and
// HEIC too.
var allTypes = []string{"image/jpeg", "image/png", "image/webp", "image/gif", "image/avif", "image/heic"}

// run processes src as a pipeline whose variant table holds just variants
// would for a source type making them all, in their order; st gives the
// source type's other fields, and the processor decodes every type.
func run(ctx context.Context, src []byte, st media.SourceType, variants ...media.Variant) (*Result, error) {
	return runWith(ctx, Config{}, src, st, variants...)
}

// runWith is run with a processor of cfg (see processorFor).
func runWith(ctx context.Context, cfg Config, src []byte, st media.SourceType, variants ...media.Variant) (*Result, error) {
	p, st, err := processorFor(cfg, st, variants...)
	if err != nil {
		return nil, err
	}
	return p.Process(ctx, src, st)
}

// processorFor builds a processor of cfg whose variant table holds just
// variants (AllowedTypes: every type when empty), and returns it with st
// naming them all, in their order.
func processorFor(cfg Config, st media.SourceType, variants ...media.Variant) (*Processor, media.SourceType, error) {
	if len(cfg.AllowedTypes) == 0 {
		cfg.AllowedTypes = allTypes
	}
	cfg.Variants = map[string]media.VariantSpec{}
	st.Variants = nil
	for _, v := range variants {
		cfg.Variants[v.Name] = v.VariantSpec
		st.Variants = append(st.Variants, v.Name)
	}
	p, err := NewProcessor(cfg)
	return p, st, err
}

// inside and cover are variants of each fit.
func inside(name string, width int) media.Variant {
	return media.Variant{Name: name, VariantSpec: media.VariantSpec{Width: width, Fit: media.FitInside}}
}

func cover(name string, width, height int) media.Variant {
	return media.Variant{Name: name, VariantSpec: media.VariantSpec{Width: width, Height: height, Fit: media.FitCover}}
}

// quadrantColours are the corners of testimages.Quadrants: top left, top
// right, bottom left, bottom right.
var quadrantColours = [4]color.RGBA{
	color.RGBA(testimages.Red), color.RGBA(testimages.Green), color.RGBA(testimages.Blue), color.RGBA(testimages.White),
}

// toRGBA converts an image to *image.RGBA.
func toRGBA(img image.Image) *image.RGBA {
	out := image.NewRGBA(img.Bounds())
	draw.Draw(out, out.Bounds(), img, img.Bounds().Min, draw.Src)
	return out
}

// withWebPMetadata wraps a still WebP's image chunk (VP8 or VP8L) in a VP8X container
// with EXIF and XMP chunks and an unknown chunk holding a script.
func withWebPMetadata(t testing.TB, simple []byte, w, h int) []byte {
	t.Helper()
	vp8x := []byte{0x08 | 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	vp8x[4], vp8x[5], vp8x[6] = byte(w-1), byte((w-1)>>8), byte((w-1)>>16)
	vp8x[7], vp8x[8], vp8x[9] = byte(h-1), byte((h-1)>>8), byte((h-1)>>16)
	body := testimages.WebPChunk("VP8X", vp8x)
	image := simple[12:]
	if string(image[:4]) == "VP8X" { // keep only the image chunk
		image = image[8+10:]
	}
	body = append(body, image...)
	body = append(body, testimages.WebPChunk("EXIF", testimages.BuildEXIF(testimages.EXIF{Orientation: 1, Make: testimages.CameraMake})[6:])...)
	body = append(body, testimages.WebPChunk("XMP ", testimages.XMPPayload()[len("http://ns.adobe.com/xap/1.0/\x00"):])...)
	body = append(body, testimages.WebPChunk("HTML", []byte("<script>"+webpScriptMarker+"</script>"))...)
	return testimages.WebPFile(body)
}

// decodeForTest decodes any supported image to upright 8-bit sRGB pixels
// at the given width, through the same libvips path as Process.
func decodeForTest(t testing.TB, data []byte, width int) *image.RGBA {
	t.Helper()
	format, _ := media.FormatOf(imagefile.Sniff(data))
	buf := vips.NewBuffer(data)
	defer buf.Free()
	img, err := vips.Decode(buf, format.Name, width, vips.PlainRGB)
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

// The inputs of the metadata tests carry every marker those tests look for
// in the outputs, so that "no marker in the output" means removed.
func TestInputsCarryMetadata(t *testing.T) {
	webp, err := run(context.Background(), testimages.PNG(testimages.Quadrants(16, 16)), media.SourceType{}, inside("x", 16))
	if err != nil {
		t.Fatal(err)
	}
	inputs := map[string]struct {
		data    []byte
		markers []string
	}{
		"jpeg": {testimages.TaggedJPEG(testimages.Quadrants(16, 16), 6), []string{testimages.CameraMake, testimages.XMPMarker, testimages.CommentMarker, testimages.IPTCMarker}},
		"png":  {testimages.PNG(testimages.Quadrants(16, 16)), []string{testimages.CameraMake, testimages.XMPMarker, testimages.TextMarker}},
		"webp": {withWebPMetadata(t, webp.Variants[0].Data, 16, 16), []string{testimages.CameraMake, testimages.XMPMarker, webpScriptMarker}},
	}
	for name, in := range inputs {
		for _, m := range in.markers {
			if !bytes.Contains(in.data, []byte(m)) {
				t.Errorf("%s input lacks %q", name, m)
			}
		}
	}
}
