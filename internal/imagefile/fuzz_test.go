package imagefile

import (
	"bytes"
	"slices"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// Fuzz targets for every parser that reads an upload's bytes before libvips
// does, beside FuzzSniff and FuzzReadHeader (header_test.go). Each checks
// what its parser promises, not only that it does not panic. make fuzz runs
// each for a bounded number of executions.

// jpegSeeds are JPEGs with metadata, repeated scans and the oddities
// libjpeg passes over (fill bytes, a TEM marker, stray bytes).
func jpegSeeds(f *testing.F) {
	jpg := testimages.TaggedJPEG(testimages.Quadrants(16, 8), 6)
	f.Add(jpg)
	f.Add(testimages.RepeatedScans(jpg, 3))
	f.Add(append([]byte{0xFF, 0xD8, 0xFF, 0xFF, 0xFF, 0x01, 0x00, 0xFF, 0xDA, 0x00, 0x02, 0x12, 0xFF, 0x00, 0xFF, 0xD3}, 0xFF, 0xD9))
	f.Add(testimages.HugeJPEG(64000, 64000))
}

// FuzzCountJPEGScans: the count never exceeds the start-of-scan markers
// in the file (it skips those inside segments and scan data).
func FuzzCountJPEGScans(f *testing.F) {
	jpegSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, sos := countJPEGScans(b), bytes.Count(b, []byte{0xFF, 0xDA}); n < 0 || n > sos {
			t.Errorf("%d scans counted in a file with %d start-of-scan markers", n, sos)
		}
	})
}

// FuzzWithoutPNGText: the result is the input without its text chunks:
// never longer, the same signature, and nothing left to remove.
func FuzzWithoutPNGText(f *testing.F) {
	png := testimages.PNG(testimages.Quadrants(4, 4)) // tEXt, iTXt, eXIf
	f.Add(png)
	const afterIHDR = 8 + 25
	ztxt := testimages.PNGChunk("zTXt", []byte("Comment\x00\x00\x78\x9c\x73\x74\x04\x00\x00\xc3\x00\x83"))
	f.Add(append(append(bytes.Clone(png[:afterIHDR]), ztxt...), png[afterIHDR:]...))
	f.Add(testimages.HugePNG(10, 10))
	f.Add(pngSignature)
	f.Fuzz(func(t *testing.T, b []byte) {
		out := withoutPNGText(b)
		if len(out) > len(b) || !bytes.Equal(out[:min(len(out), 8)], b[:min(len(b), 8)]) {
			t.Fatalf("%d bytes from %d, starting %q from %q", len(out), len(b), out[:min(len(out), 8)], b[:min(len(b), 8)])
		}
		if again := withoutPNGText(out); !bytes.Equal(again, out) {
			t.Errorf("a second pass removes %d more bytes: a text chunk was left", len(out)-len(again))
		}
	})
}

// checkStripped checks what a strip function promises for any input: on
// success, a result no longer than the input from which a second pass
// removes nothing (only the kept segments or chunks are left).
func checkStripped(t *testing.T, strip func([]byte) ([]byte, error), b []byte) {
	out, err := strip(b)
	if err != nil {
		return
	}
	if len(out) > len(b) {
		t.Fatalf("%d bytes from %d", len(out), len(b))
	}
	again, err := strip(out)
	if err != nil || !bytes.Equal(again, out) {
		t.Errorf("a second pass gives %d bytes from %d, %v: something that should go was left", len(again), len(out), err)
	}
}

func FuzzStripJPEG(f *testing.F) {
	jpegSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) { checkStripped(t, stripJPEG, b) })
}

func FuzzStripPNG(f *testing.F) {
	png := testimages.PNG(testimages.Quadrants(4, 4)) // tEXt, iTXt, eXIf
	f.Add(png)
	f.Add(testimages.HugePNG(10, 10))
	f.Fuzz(func(t *testing.T, b []byte) { checkStripped(t, stripPNG, b) })
}

func FuzzStripWebP(f *testing.F) {
	vp8x := []byte{0x08 | 0x04 | 0x02, 0, 0, 0, 15, 0, 0, 7, 0, 0}
	f.Add(testimages.WebPFile(append(append(testimages.WebPChunk("VP8X", vp8x), testimages.WebPChunk("EXIF", []byte("Exif\x00\x00MM"))...),
		testimages.WebPChunk("VP8L", []byte{0x2f, 15, 0xC0, 1, 0})...)))
	f.Add(testimages.WebPFile(append(testimages.WebPChunk("ANIM", make([]byte, 6)), testimages.WebPChunk("ANMF", make([]byte, 17))...)))
	f.Add(testimages.WebPFile(testimages.WebPChunk("HTML", []byte("<script>x</script>"))))
	f.Fuzz(func(t *testing.T, b []byte) { checkStripped(t, StripWebP, b) })
}

func FuzzStripGIF(f *testing.F) {
	g := testimages.AnimatedGIF(4, 4, testimages.Red, testimages.Blue) // global table, NETSCAPE2.0 loop
	f.Add(g)
	f.Add(append(g[:len(g)-1], append([]byte{0x21, 0xFE, 3}, "abc\x00\x3B"...)...)) // a comment
	f.Add(testimages.OffscreenGIF(10, 10, 100, 100, 4, 4))
	f.Fuzz(func(t *testing.T, b []byte) { checkStripped(t, stripGIF, b) })
}

// FuzzHEIFCodecs: only known codec item types come back, each once.
func FuzzHEIFCodecs(f *testing.F) {
	f.Add(craftedHEIF("avif"))
	iinf := box("iinf", []byte{0, 0, 0, 0}, []byte{0, 2}, infe(2, 1, "av01"), infe(3, 2, "hvc1"))
	f.Add(append(box("ftyp", []byte("heic"), []byte{0, 0, 0, 0}), box("meta", []byte{0, 0, 0, 0}, iinf)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		codecs := HEIFCodecs(b)
		for i, c := range codecs {
			if !heifCodecs[c] || slices.Index(codecs, c) != i {
				t.Errorf("codecs %q", codecs)
			}
		}
	})
}
