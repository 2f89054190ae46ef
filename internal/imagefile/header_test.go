package imagefile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"io"
	"slices"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// craftedPNG is a PNG signature and IHDR for w x h, then an acTL when
// frames > 1: what ReadHeader must read without any pixel data.
func craftedPNG(w, h uint32, frames uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	b := append(append([]byte{}, pngSignature...), testimages.PNGChunk("IHDR", ihdr)...)
	if frames > 1 {
		b = append(b, testimages.PNGChunk("acTL", binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, frames), 0))...)
	}
	return append(b, testimages.PNGChunk("IDAT", []byte{1, 2, 3})...)
}

// craftedJPEG is SOI, a large APP1, then a SOF0 for w x h.
func craftedJPEG(w, h uint16, app1 int) []byte {
	var segs []testimages.Segment
	for app1 > 0 { // segments are at most 65533 bytes of payload
		n := min(app1, 65000)
		segs = append(segs, testimages.Segment{Marker: 0xE1, Payload: make([]byte, n)})
		app1 -= n
	}
	sof := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1}
	segs = append(segs, testimages.Segment{Marker: 0xC0, Payload: sof})
	return testimages.InsertSegments([]byte{0xFF, 0xD8, 0xFF, 0xDA}, segs...)
}

func craftedWebP(chunk string, payload []byte, extra ...[]byte) []byte {
	body := testimages.WebPChunk(chunk, payload)
	for _, e := range extra {
		body = append(body, testimages.WebPChunk("ANMF", e)...)
	}
	return testimages.WebPFile(body)
}

func box(typ string, body ...[]byte) []byte {
	b := append(binary.BigEndian.AppendUint32(nil, uint32(8+len(bytes.Join(body, nil)))), typ...)
	return append(b, bytes.Join(body, nil)...)
}

// craftedHEIF is an ftyp and a meta box whose primary item 1 has a
// 3000x2000 ispe, with a 512x512 tile ispe listed first.
func craftedHEIF(brand string) []byte {
	full := []byte{0, 0, 0, 0}
	ispe := func(w, h uint32) []byte {
		return box("ispe", full, binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, w), h))
	}
	ipma := append([]byte{0, 0, 0, 0}, binary.BigEndian.AppendUint32(nil, 1)...)
	ipma = append(ipma, 0, 1, 1, 0x02) // item 1: one association, property 2
	meta := box("meta", full,
		box("hdlr", full, []byte("\x00\x00\x00\x00pict\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")),
		box("pitm", full, []byte{0, 1}),
		box("iprp", box("ipco", ispe(512, 512), ispe(3000, 2000)), box("ipma", ipma)))
	return append(box("ftyp", []byte(brand), []byte{0, 0, 0, 0}, []byte("mif1"), []byte(brand)), meta...)
}

func TestReadHeader(t *testing.T) {
	t.Parallel()
	var animated bytes.Buffer
	pal := color.Palette{color.Black, color.White}
	frames := []*image.Paletted{image.NewPaletted(image.Rect(0, 0, 30, 20), pal), image.NewPaletted(image.Rect(0, 0, 30, 20), pal), image.NewPaletted(image.Rect(0, 0, 30, 20), pal)}
	if err := gif.EncodeAll(&animated, &gif.GIF{Image: frames, Delay: []int{1, 1, 1}}); err != nil {
		t.Fatal(err)
	}
	vp8x := func(w, h int, flags byte) []byte {
		return []byte{flags, 0, 0, 0, byte(w - 1), byte((w - 1) >> 8), byte((w - 1) >> 16), byte(h - 1), byte((h - 1) >> 8), byte((h - 1) >> 16)}
	}
	vp8l := binary.LittleEndian.AppendUint32([]byte{0x2f}, uint32(99)|uint32(49)<<14)
	vp8 := []byte{0, 0, 0, 0x9d, 0x01, 0x2a, 200, 0, 100, 0}

	tests := []struct {
		name string
		src  []byte
		want Header
	}{
		{"jpeg", testimages.TaggedJPEG(testimages.Quadrants(60, 40), 6), Header{"jpeg", 60, 40, 1}},
		{"jpeg after 600 KB of APP1", craftedJPEG(300, 200, 600_000), Header{"jpeg", 300, 200, 1}},
		{"jpeg bomb 64000x64000", craftedJPEG(64000, 64000, 0), Header{"jpeg", 64000, 64000, 1}},
		{"png", testimages.PNG(testimages.Quadrants(33, 22)), Header{"png", 33, 22, 1}},
		{"png bomb 64000x64000", craftedPNG(64000, 64000, 1), Header{"png", 64000, 64000, 1}},
		{"apng", craftedPNG(10, 10, 7), Header{"png", 10, 10, 7}},
		{"gif 3 frames", animated.Bytes(), Header{"gif", 30, 20, 3}},
		{"gif frame beyond its screen", testimages.OffscreenGIF(100, 100, 60000, 60000, 10, 20), Header{"gif", 60010, 60020, 1}},
		{"webp VP8", craftedWebP("VP8 ", vp8), Header{"webp", 200, 100, 1}},
		{"webp VP8L", craftedWebP("VP8L", vp8l), Header{"webp", 100, 50, 1}},
		{"webp VP8X", craftedWebP("VP8X", vp8x(16000, 9000, 0)), Header{"webp", 16000, 9000, 1}},
		{"webp animated", craftedWebP("VP8X", vp8x(64, 48, 0x02), []byte{1}, []byte{2}), Header{"webp", 64, 48, 2}},
		{"avif", craftedHEIF("avif"), Header{"avif", 3000, 2000, 1}},
		{"heic", craftedHEIF("heic"), Header{"heic", 3000, 2000, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ReadHeader(bytes.NewReader(tc.src))
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestReadHeaderReal(t *testing.T) {
	t.Parallel()
	avif := testimages.Shared(t, "pitm.avif")
	got, err := ReadHeader(bytes.NewReader(avif))
	if want := (Header{"avif", 4096, 800, 1}); err != nil || got != want {
		t.Errorf("pitm.avif: got %+v, %v; want %+v", got, err, want)
	}
	// Every real image agrees with libvips: see TestProcessRealImages.
}

func TestReadHeaderBad(t *testing.T) {
	t.Parallel()
	jpeg := craftedJPEG(300, 200, 0)
	tests := map[string][]byte{
		"empty":             nil,
		"text":              []byte("hello, world"),
		"svg":               []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`),
		"jpeg cut in SOF":   jpeg[:len(jpeg)-15],
		"jpeg without SOF":  {0xFF, 0xD8, 0xFF, 0xDA, 0, 2},
		"png cut in IHDR":   craftedPNG(10, 10, 1)[:20],
		"png zero width":    craftedPNG(0, 10, 1),
		"webp unknown":      craftedWebP("ABCD", []byte{1, 2}),
		"gif cut":           []byte("GIF89a\x01"),
		"heif no meta":      box("ftyp", []byte("avif"), []byte{0, 0, 0, 0}),
		"jpeg APP1 > 1 MiB": craftedJPEG(300, 200, 1100_000),
	}
	for name, src := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if h, err := ReadHeader(bytes.NewReader(src)); !errors.Is(err, ErrBadHeader) {
				t.Errorf("got %+v, %v; want ErrBadHeader", h, err)
			}
		})
	}
}

// TestReadHeaderReadsLittle checks the header of a huge upload is found
// without reading the rest of it.
func TestReadHeaderReadsLittle(t *testing.T) {
	t.Parallel()
	r := &countingReader{r: io.MultiReader(bytes.NewReader(craftedPNG(64000, 64000, 1)), neverEnding{})}
	if _, err := ReadHeader(r); err != nil {
		t.Fatal(err)
	}
	if r.n > 8192 {
		t.Errorf("read %d bytes for a PNG header", r.n)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

type neverEnding struct{}

func (neverEnding) Read(p []byte) (int, error) { return len(p), nil }

func TestSniff(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		head []byte
		want string
	}{
		"jpeg":                {craftedJPEG(1, 1, 0), "image/jpeg"},
		"png":                 {craftedPNG(1, 1, 1), "image/png"},
		"gif":                 {[]byte("GIF89a\x01\x00\x01\x00"), "image/gif"},
		"webp":                {craftedWebP("VP8L", []byte{0x2f, 0, 0, 0, 0}), "image/webp"},
		"avif":                {craftedHEIF("avif"), "image/avif"},
		"heic":                {craftedHEIF("heic"), "image/heic"},
		"svg":                 {[]byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), "image/svg+xml"},
		"svg with xml":        {[]byte("\xef\xbb\xbf<?xml version=\"1.0\"?>\n<!-- x -->\n<svg>"), "image/svg+xml"},
		"tiff, little-endian": {[]byte("II*\x00\x08\x00\x00\x00"), "image/tiff"},
		"tiff, big-endian":    {[]byte("MM\x00*\x00\x00\x00\x08"), "image/tiff"},
		"jpeg xl":             {[]byte("\xff\x0a\xfa\x7f"), "image/jxl"},
		"jpeg xl container":   {[]byte("\x00\x00\x00\x0cJXL \x0d\x0a\x87\x0a\x00\x00\x00\x14ftypjxl "), "image/jxl"},
		"photoshop":           {[]byte("8BPS\x00\x01"), "image/vnd.adobe.photoshop"},
		"pdf":                 {[]byte("%PDF-1.7\n"), "application/pdf"},
		"html":                {[]byte("<!DOCTYPE html><html>"), "text/html"},
		"text":                {[]byte("just words"), "text/plain"},
		"binary":              {[]byte{0, 1, 2, 3, 0xfe}, "application/octet-stream"},
		"mp4 not heif":        {box("ftyp", []byte("isom"), []byte{0, 0, 0, 0}, []byte("mp41")), "video/mp4"},
		"empty":               {nil, "text/plain"},
		"named .jpg, is png":  {craftedPNG(1, 1, 1), "image/png"},
	}
	for name, tc := range tests {
		if got := Sniff(tc.head); got != tc.want {
			t.Errorf("%s: got %s, want %s", name, got, tc.want)
		}
	}
}

func headerSeeds(f *testing.F) {
	f.Add(craftedJPEG(300, 200, 1000))
	f.Add(craftedPNG(64000, 64000, 3))
	f.Add(craftedWebP("VP8X", []byte{2, 0, 0, 0, 1, 0, 0, 1, 0, 0}, []byte{1}))
	f.Add(craftedWebP("VP8 ", []byte{0, 0, 0, 0x9d, 0x01, 0x2a, 200, 0, 100, 0}))
	f.Add(craftedHEIF("avif"))
	f.Add([]byte("GIF89a\x0a\x00\x0a\x00\x80\x00\x00"))
	f.Add([]byte(`<svg/>`))
	f.Add(testimages.PNG(testimages.Quadrants(8, 8)))
}

func FuzzSniff(f *testing.F) {
	headerSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if Sniff(b) == "" {
			t.Error("empty type")
		}
	})
}

func FuzzReadHeader(f *testing.F) {
	headerSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ReadHeader(bytes.NewReader(b))
		if err == nil && (h.Width <= 0 || h.Height <= 0 || h.Frames < 1) {
			t.Errorf("no error but %+v", h)
		}
		// Whatever the header says, the strippers must not panic either.
		for _, f := range []string{"jpeg", "png", "webp", "gif"} {
			StripMetadata(f, b)
		}
	})
}

// infe is an item info entry of version 2 (16-bit id) or 3 (32-bit id).
func infe(version byte, id int, itemType string) []byte {
	body := []byte{version, 0, 0, 0}
	if version >= 3 {
		body = binary.BigEndian.AppendUint32(body, uint32(id))
	} else {
		body = binary.BigEndian.AppendUint16(body, uint16(id))
	}
	body = append(body, 0, 0) // protection index
	return box("infe", body, []byte(itemType), []byte("\x00"))
}

func TestHEIFCodecs(t *testing.T) {
	t.Parallel()
	withItems := func(iinfVersion byte, items ...[]byte) []byte {
		count := binary.BigEndian.AppendUint16(nil, uint16(len(items)))
		if iinfVersion > 0 {
			count = binary.BigEndian.AppendUint32(nil, uint32(len(items)))
		}
		iinf := box("iinf", []byte{iinfVersion, 0, 0, 0}, count, bytes.Join(items, nil))
		return append(box("ftyp", []byte("avif"), []byte{0, 0, 0, 0}), box("meta", []byte{0, 0, 0, 0}, iinf)...)
	}
	for name, tc := range map[string]struct {
		src  []byte
		want []string
	}{
		"av1":                   {withItems(0, infe(2, 1, "av01"), infe(2, 2, "Exif")), []string{"av01"}},
		"hevc grid, 32-bit ids": {withItems(1, infe(3, 1, "grid"), infe(3, 2, "hvc1"), infe(3, 3, "hvc1"), infe(3, 4, "mime")), []string{"hvc1"}},
		"both":                  {withItems(0, infe(2, 1, "av01"), infe(2, 2, "hvc1")), []string{"av01", "hvc1"}},
		"version 1 entries":     {withItems(0, box("infe", []byte{1, 0, 0, 0, 0, 1, 0, 0}, []byte("name\x00"))), []string{}},
		"no item info":          {craftedHEIF("avif"), []string{}},
		"no meta":               {box("ftyp", []byte("avif"), []byte{0, 0, 0, 0}), nil},
	} {
		if got := HEIFCodecs(tc.src); !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
	if avif := testimages.SharedOptional(t, "pitm.avif"); avif != nil {
		if got := HEIFCodecs(avif); !slices.Equal(got, []string{"av01"}) {
			t.Errorf("pitm.avif: %q, want av01", got)
		}
	}
}
