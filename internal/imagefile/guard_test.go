package imagefile

import (
	"bytes"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

func TestCountJPEGScans(t *testing.T) {
	t.Parallel()
	jpg := testimages.TaggedJPEG(testimages.Quadrants(64, 48), 6) // EXIF, XMP, comment, IPTC before the scan
	for _, n := range []int{1, 3, MaxJPEGScans + 1} {
		if got := countJPEGScans(testimages.RepeatedScans(jpg, n)); got != n {
			t.Errorf("%d scans counted as %d", n, got)
		}
	}
	// What libjpeg passes over must not hide the scans that follow.
	scans := testimages.RepeatedScans(jpg, MaxJPEGScans+1)
	first := bytes.Index(scans, []byte{0xFF, 0xDA})
	second := first + 2 + bytes.Index(scans[first+2:], []byte{0xFF, 0xDA})
	insert := func(at int, b ...byte) []byte {
		return append(append(append([]byte{}, scans[:at]...), b...), scans[at:]...)
	}
	for name, src := range map[string][]byte{
		"TEM marker before a scan":     insert(second, 0xFF, 0x01),
		"stray bytes before a scan":    insert(second, 0xFF, 0xFE, 0x00, 0x03, 'x', 0x00, 0x00),
		"stray byte before the first":  insert(first, 0x00),
		"fill bytes before a scan":     insert(second, 0xFF, 0xFF, 0xFF),
		"restart marker between scans": insert(second, 0xFF, 0xD3),
	} {
		if got := countJPEGScans(src); got != MaxJPEGScans+1 {
			t.Errorf("%s: %d scans counted, want %d", name, got, MaxJPEGScans+1)
		}
	}
	// A real file whose metadata embeds previews: their start-of-scan
	// markers are inside segments and do not count.
	if b := testimages.SharedOptional(t, "Channel_digital_image_CMYK_color.jpg"); b != nil {
		if got, raw := countJPEGScans(b), bytes.Count(b, []byte{0xFF, 0xDA}); got != 1 || raw < 2 {
			t.Errorf("the shared CMYK JPEG counts %d scans (%d SOS byte pairs in the file), want 1 of several", got, raw)
		}
	} else {
		t.Log("shared test images absent: the real JPEG with embedded previews is not counted")
	}
}

// A PNG's text chunks are removed before libvips sees it, which would
// inflate every zTXt into memory; the image and its other chunks are
// untouched. (imaging's TestPNGTextRemovedBeforeDecoding decodes the
// result.)
func TestPNGTextRemoved(t *testing.T) {
	t.Parallel()
	src := testimages.PNG(testimages.Quadrants(40, 30)) // tEXt and iTXt after IHDR
	hostile := testimages.TextBombPNG(src, 20)

	got := withoutPNGText(hostile)
	for _, typ := range []string{"tEXt", "zTXt", "iTXt"} {
		if bytes.Contains(got, []byte(typ)) {
			t.Errorf("a %s chunk is left", typ)
		}
	}
	for _, typ := range []string{"IHDR", "IDAT", "IEND", "eXIf"} {
		if !bytes.Contains(got, []byte(typ)) {
			t.Errorf("the %s chunk is gone", typ)
		}
	}
	if plain := withoutPNGText(testimages.PNG(testimages.Quadrants(4, 4))); bytes.Contains(plain, []byte("tEXt")) {
		t.Error("the plain PNG keeps its tEXt chunk")
	}
	if png := testimages.TaggedJPEG(testimages.Quadrants(8, 8), 1); !bytes.Equal(withoutPNGText(append(append([]byte{}, pngSignature...), png...)), append(append([]byte{}, pngSignature...), png...)) {
		t.Error("bytes that are not PNG chunks are changed")
	}
	if guarded, err := Guard("png", hostile); err != nil || !bytes.Equal(guarded, got) {
		t.Errorf("Guard gives %d bytes, %v; want the %d without text", len(guarded), err, len(got))
	}
}
