package testimages

import (
	"bytes"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestStoredDisplayRoundTrip(t *testing.T) {
	t.Parallel()
	up := Quadrants(6, 4)
	for o := 1; o <= 8; o++ {
		st := Stored(up, o)
		if o >= 5 && (st.Bounds().Dx() != 4 || st.Bounds().Dy() != 6) {
			t.Errorf("orientation %d: stored size %v, want 4x6", o, st.Bounds().Size())
		}
		back := Display(st, o)
		if !bytes.Equal(back.Pix, up.Pix) || back.Bounds() != up.Bounds() {
			t.Errorf("orientation %d: Display(Stored(img)) != img", o)
		}
		if got := QuadrantColors(back); got != Upright {
			t.Errorf("orientation %d: upright quadrants %v, want %v", o, got, Upright)
		}
		if o != 1 && QuadrantColors(st) == Upright {
			t.Errorf("orientation %d: stored pixels look upright: the test image cannot tell", o)
		}
	}
}

// TestOrientedJPEGDecodes checks the generated JPEG is valid, and that its
// hand-built EXIF is understood by a real EXIF parser (libvips' libexif)
// when vipsheader is installed.
func TestOrientedJPEGDecodes(t *testing.T) {
	t.Parallel()
	for o := 1; o <= 8; o++ {
		data := OrientedJPEG(Quadrants(60, 40), o)
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("orientation %d: %v", o, err)
		}
		want := Stored(Quadrants(60, 40), o)
		if img.Bounds().Size() != want.Bounds().Size() {
			t.Errorf("orientation %d: size %v, want %v", o, img.Bounds().Size(), want.Bounds().Size())
		}
		if got := QuadrantColors(img); got != QuadrantColors(want) {
			t.Errorf("orientation %d: stored quadrants %v, want %v", o, got, QuadrantColors(want))
		}
		if got := QuadrantColors(Display(img, o)); got != Upright {
			t.Errorf("orientation %d: displayed quadrants %v, want upright", o, got)
		}
		for _, m := range []string{CameraMake, XMPMarker, CommentMarker, IPTCMarker} {
			if !bytes.Contains(data, []byte(m)) {
				t.Errorf("orientation %d: no %q in the file", o, m)
			}
		}
		if got := http.DetectContentType(data); got != "image/jpeg" {
			t.Errorf("orientation %d: sniffed %s", o, got)
		}

		vh, err := exec.LookPath("vipsheader")
		if err != nil {
			t.Fatal("vipsheader (Debian libvips-tools) not found: run scripts/install-deps.sh test")
		}
		f := filepath.Join(t.TempDir(), "o.jpg")
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(vh, "-a", f).CombinedOutput()
		if err != nil {
			t.Fatalf("vipsheader: %v\n%s", err, out)
		}
		s := string(out)
		for _, want := range []string{
			"exif-ifd0-Orientation: " + string(rune('0'+o)),
			"exif-ifd0-Make: " + CameraMake,
			"exif-ifd3-GPSLatitudeRef: N",
			"exif-ifd3-GPSLongitude: 2/1 17/1 4020/100",
			"xmp-data",
		} {
			if !strings.Contains(s, want) {
				t.Errorf("orientation %d: vipsheader does not show %q:\n%s", o, want, s)
			}
		}
	}
}

func TestOtherImages(t *testing.T) {
	t.Parallel()
	img, err := png.Decode(bytes.NewReader(AlphaPNG(40, 20)))
	if err != nil {
		t.Fatal(err)
	}
	if ColorName(img.At(5, 5)) != "red" || ColorName(img.At(35, 5)) != "transparent" {
		t.Errorf("alpha PNG: %v %v", img.At(5, 5), img.At(35, 5))
	}
	if !bytes.Contains(AlphaPNG(4, 4), []byte(TextMarker)) {
		t.Error("PNG has no text chunk")
	}

	g, err := gif.DecodeAll(bytes.NewReader(AnimatedGIF(10, 10, Red, Blue, Green)))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Image) != 3 || ColorName(g.Image[0].At(1, 1)) != "red" || ColorName(g.Image[1].At(1, 1)) != "blue" {
		t.Errorf("GIF: %d frames", len(g.Image))
	}

	for name, data := range map[string][]byte{"png": HugePNG(64000, 64000), "jpeg": HugeJPEG(64000, 64000)} {
		var cfg image.Config
		var err error
		if name == "png" {
			cfg, err = png.DecodeConfig(bytes.NewReader(data))
		} else {
			cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
		}
		if err != nil || cfg.Width != 64000 || cfg.Height != 64000 {
			t.Errorf("huge %s: %v %dx%d", name, err, cfg.Width, cfg.Height)
		}
		if len(data) > 100 {
			t.Errorf("huge %s: %d bytes", name, len(data))
		}
	}

	tr := TruncatedJPEG(64, 64)
	if _, err := jpeg.DecodeConfig(bytes.NewReader(tr)); err != nil {
		t.Errorf("truncated JPEG header: %v", err)
	}
	if _, err := jpeg.Decode(bytes.NewReader(tr)); err == nil {
		t.Error("truncated JPEG decodes")
	}

	sniff := map[string]string{
		"svg": http.DetectContentType(SVG), "html": http.DetectContentType(HTML),
		"pdf": http.DetectContentType(PDF), "script": http.DetectContentType(Script),
	}
	for name, want := range map[string]string{"svg": "text/xml", "html": "text/html", "pdf": "application/pdf", "script": "text/plain"} {
		if !strings.HasPrefix(sniff[name], want) {
			t.Errorf("%s sniffs as %s, want %s", name, sniff[name], want)
		}
	}

	p := Pad(JPEG(Quadrants(8, 8), 80), 5000)
	if len(p) != 5000 {
		t.Errorf("Pad: %d bytes", len(p))
	}
	if _, err := jpeg.Decode(bytes.NewReader(p)); err != nil {
		t.Errorf("padded JPEG: %v", err)
	}
}
