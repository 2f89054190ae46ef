package imaging

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// withScans returns a JPEG whose one scan (its SOS segment and entropy-coded
// data) is repeated n times, as a progressive JPEG repeating a scan is.
func withScans(t *testing.T, jpg []byte, n int) []byte {
	t.Helper()
	sos := bytes.Index(jpg, []byte{0xFF, 0xDA})
	eoi := bytes.LastIndex(jpg, []byte{0xFF, 0xD9})
	if sos < 0 || eoi < sos {
		t.Fatal("no scan in the JPEG")
	}
	out := append([]byte{}, jpg[:sos]...)
	for range n {
		out = append(out, jpg[sos:eoi]...)
	}
	return append(out, jpg[eoi:]...)
}

func TestCountJPEGScans(t *testing.T) {
	t.Parallel()
	jpg := makeJPEG(testimages.Quadrants(64, 48), 6) // EXIF, XMP, comment, IPTC before the scan
	for _, n := range []int{1, 3, maxJPEGScans + 1} {
		if got := countJPEGScans(withScans(t, jpg, n)); got != n {
			t.Errorf("%d scans counted as %d", n, got)
		}
	}
	// What libjpeg passes over must not hide the scans that follow.
	scans := withScans(t, jpg, maxJPEGScans+1)
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
		if got := countJPEGScans(src); got != maxJPEGScans+1 {
			t.Errorf("%s: %d scans counted, want %d", name, got, maxJPEGScans+1)
		}
	}
	// A real file whose metadata embeds previews: their start-of-scan
	// markers are inside segments and do not count.
	if b := readOptional("Channel_digital_image_CMYK_color.jpg"); b != nil {
		if got, raw := countJPEGScans(b), bytes.Count(b, []byte{0xFF, 0xDA}); got != 1 || raw < 2 {
			t.Errorf("the shared CMYK JPEG counts %d scans (%d SOS byte pairs in the file), want 1 of several", got, raw)
		}
	} else {
		t.Log("shared test images absent: the real JPEG with embedded previews is not counted")
	}
}

// Hostile sources are refused before libvips decodes them, with a reason;
// the same images within the limits are processed.
func TestProcessRefusesBeforeDecoding(t *testing.T) {
	t.Parallel()
	jpg := makeJPEG(testimages.Quadrants(64, 48), 1)
	opts := Options{Variants: []Variant{{Name: "sm", Width: 32, Fit: FitInside}}}
	for _, tc := range []struct {
		name string
		src  []byte
		want string // in the error; "" for success
	}{
		{"jpeg, scans at the limit", withScans(t, jpg, maxJPEGScans), ""},
		{"jpeg, scans over the limit", withScans(t, jpg, maxJPEGScans+1), fmt.Sprintf("progressive JPEG with %d scans (at most %d)", maxJPEGScans+1, maxJPEGScans)},
		{"png, taller than libvips decodes", testimages.HugePNG(1, maxPNGSide+1), fmt.Sprintf("PNG of 1x%d (libvips decodes at most %d pixels a side)", maxPNGSide+1, maxPNGSide)},
		{"webp, frames over the limit", animatedWebP(t, maxWebPFrames+1), fmt.Sprintf("animated WebP with %d frames (at most %d)", maxWebPFrames+1, maxWebPFrames)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Process(context.Background(), tc.src, opts)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (!errors.Is(err, ErrUndecodable) || err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want ErrUndecodable with %q", err, tc.want)
			}
		})
	}
}

// animatedWebP returns a WebP container with n ANMF chunks of one lossless
// 1x1 frame each.
func animatedWebP(t *testing.T, n int) []byte {
	t.Helper()
	res, err := Process(context.Background(), testimages.PNG(testimages.Quadrants(2, 2)), Options{Variants: []Variant{{Name: "x", Width: 1, Fit: FitInside}}})
	if err != nil {
		t.Fatal(err)
	}
	still := res.Variants[0].Data[12:]              // the image chunk(s) of a simple WebP
	vp8x := []byte{0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0} // animation flag, 1x1 canvas
	body := webpChunk("VP8X", vp8x)
	body = append(body, webpChunk("ANIM", make([]byte, 6))...)
	frame := webpChunk("ANMF", append([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0}, still...))
	for range n {
		body = append(body, frame...)
	}
	return webpFile(body)
}

// A PNG's text chunks never reach libvips, which would inflate every zTXt
// into memory; the image and its other chunks are untouched.
func TestPNGTextRemovedBeforeDecoding(t *testing.T) {
	t.Parallel()
	src := testimages.PNG(testimages.Quadrants(40, 30)) // tEXt and iTXt after IHDR
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(bytes.Repeat([]byte("A"), 4<<20))
	zw.Close()
	bomb := testimages.PNGChunk("zTXt", append([]byte("Comment\x00\x00"), z.Bytes()...))
	const afterIHDR = 8 + 25
	var hostile []byte
	hostile = append(hostile, src[:afterIHDR]...)
	for range 20 {
		hostile = append(hostile, bomb...)
	}
	hostile = append(hostile, src[afterIHDR:]...)

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
	if png := makeJPEG(testimages.Quadrants(8, 8), 1); !bytes.Equal(withoutPNGText(append(append([]byte{}, pngSignature...), png...)), append(append([]byte{}, pngSignature...), png...)) {
		t.Error("bytes that are not PNG chunks are changed")
	}

	want := decodeForTest(t, src, 40)
	if d := meanDiff(decodeForTest(t, got, 40), want); d != 0 {
		t.Errorf("pixels differ by %.2f once the text is removed", d)
	}
	res, err := Process(context.Background(), hostile, Options{Variants: []Variant{{Name: "sm", Width: 20, Fit: FitInside}}})
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Variants[0]; v.Width != 20 || v.Height != 15 {
		t.Errorf("variant %dx%d, want 20x15", v.Width, v.Height)
	}
}

// A re-encoded original over MaxOriginalBytes is refused; one under it is
// kept.
func TestProcessOriginalLimit(t *testing.T) {
	t.Parallel()
	src := makeJPEG(testimages.Stored(testimages.Noise(300, 200, 7), 6), 6) // rotated: re-encoded
	opts := Options{Variants: []Variant{{Name: "sm", Width: 32, Fit: FitInside}}, KeepOriginal: true}
	res, err := Process(context.Background(), src, opts)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(res.Original.Data))
	opts.MaxOriginalBytes = size
	if _, err := Process(context.Background(), src, opts); err != nil {
		t.Errorf("original of exactly the limit refused: %v", err)
	}
	opts.MaxOriginalBytes = size - 1
	_, err = Process(context.Background(), src, opts)
	if want := fmt.Sprintf("over %d bytes", size-1); !errors.Is(err, ErrOriginalTooLarge) || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want ErrOriginalTooLarge with %q", err, want)
	}
}

// EncodeWithin writes what Encode writes while it fits, and stops past the
// limit, in every format.
func TestEncodeWithin(t *testing.T) {
	t.Parallel()
	Start(Config{})
	buf := newCBuffer(testimages.PNG(testimages.Noise(120, 80, 5)))
	defer buf.free()
	img, err := decode(buf, 120, plainRGB)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	for _, f := range []string{"jpeg", "png", "webp", "gif"} {
		want, err := img.Encode(f, 90, 2)
		if err != nil {
			t.Fatal(err)
		}
		// libvips 8.14's WebP carries an EXIF chunk that both strip
		// afterwards: the limit counts the encoder's bytes.
		limit := int64(len(want))
		if f == "webp" {
			limit += 256
		}
		got, err := img.EncodeWithin(f, 90, 2, limit)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s within its own size: %d bytes, %v; want Encode's %d bytes", f, len(got), err, len(want))
		}
		if _, err := img.EncodeWithin(f, 90, 2, int64(len(want))/2); !errors.Is(err, errEncodingTooLarge) {
			t.Errorf("%s within half its size: %v, want errEncodingTooLarge", f, err)
		}
	}
}
