package vips

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// EncodeWithin writes what Encode writes while it fits, and stops past the
// limit, in every format.
func TestEncodeWithin(t *testing.T) {
	t.Parallel()
	buf := NewBuffer(testimages.PNG(testimages.Noise(120, 80, 5)))
	defer buf.Free()
	img, err := Decode(buf, "png", 120, PlainRGB)
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
		if _, err := img.EncodeWithin(f, 90, 2, int64(len(want))/2); !errors.Is(err, ErrEncodingTooLarge) {
			t.Errorf("%s within half its size: %v, want ErrEncodingTooLarge", f, err)
		}
	}
}

// A file is read by the loader of the format the caller names, never the
// one libvips' content detection would pick: on every path (the header,
// the fast JPEG decode, the profile paths and thumbnail), bytes of another
// format fail.
func TestLoaderIsTheNamedFormats(t *testing.T) {
	t.Parallel()
	png := testimages.PNG(testimages.Quadrants(40, 30))
	buf := NewBuffer(png)
	defer buf.Free()
	if h, err := ReadHeader(buf, "png"); err != nil || h.Width != 40 || h.Height != 30 {
		t.Fatalf("as png: %+v, %v", h, err)
	}
	for _, format := range []string{"jpeg", "webp", "gif"} {
		if h, err := ReadHeader(buf, format); err == nil {
			t.Errorf("a PNG read as %s: %+v", format, h)
		}
		for _, colour := range []Colour{PlainRGB, ICCProfile, CMYK} {
			img, err := Decode(buf, format, 40, colour)
			if err == nil {
				img.Close()
				t.Errorf("a PNG decoded as %s (colour path %d)", format, colour)
			}
		}
	}
	// thumbnail's own detection would pick the PNG loader: refused, naming it.
	if _, err := Decode(buf, "gif", 40, PlainRGB); err == nil || !strings.Contains(err.Error(), "pngload_buffer") {
		t.Errorf("a PNG decoded as gif: %v, want the detected loader named", err)
	}
	if _, err := ReadHeader(buf, "tiff"); err == nil {
		t.Error("an unknown format was read")
	}
	if err := EnableLoader("tiff"); err == nil {
		t.Error("the TIFF loader was enabled")
	}
}
