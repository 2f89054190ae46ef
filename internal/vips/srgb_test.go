package vips

import (
	"bytes"
	"image"
	_ "image/png"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// Our sRGB profile converts as libvips' own does: a noise picture in
// Display P3 (libvips' "p3", embedded), decoded to sRGB through our
// profile, against the vips command line's conversion through libvips'
// "srgb": at most one level apart anywhere, and the same in at least 95%
// of the values. On Linux the profile is ours, read from a memory file.
func TestSRGBProfile(t *testing.T) {
	t.Parallel()
	if err := Start(); err != nil {
		t.Fatal(err)
	}
	if name := profileName(); runtime.GOOS == "linux" && !strings.HasPrefix(name, "/proc/self/fd/") {
		t.Errorf("the sRGB profile is %q, want ours in a memory file", name)
	}
	vips, err := exec.LookPath("vips")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the vips command line (libvips-tools) is missing")
		}
		t.Skip("no vips command line (libvips-tools): cannot make the reference")
	}
	dir := t.TempDir()
	srgbPNG, p3PNG, ref := filepath.Join(dir, "srgb.png"), filepath.Join(dir, "p3.png"), filepath.Join(dir, "ref.png")
	if err := os.WriteFile(srgbPNG, testimages.PNG(testimages.Noise(97, 61, 7)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"icc_transform", srgbPNG, p3PNG, "p3", "--input-profile", "srgb", "--embedded"},
		{"icc_transform", p3PNG, ref, "srgb", "--embedded"},
	} {
		if out, err := exec.Command(vips, args...).CombinedOutput(); err != nil {
			t.Fatalf("vips %v: %v\n%s", args, err, out)
		}
	}
	p3, err := os.ReadFile(p3PNG)
	if err != nil {
		t.Fatal(err)
	}
	buf := NewBuffer(p3)
	defer buf.Free()
	img, err := Decode(buf, "png", 97, ICCProfile)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	got, err := img.Pixels()
	if err != nil {
		t.Fatal(err)
	}
	refPNG, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := image.Decode(bytes.NewReader(refPNG))
	if err != nil {
		t.Fatal(err)
	}
	unconverted, _, err := image.Decode(bytes.NewReader(p3)) // Go ignores the profile
	if err != nil {
		t.Fatal(err)
	}
	same, moved := 0, 0
	for y := range 61 {
		for x := range 97 {
			r, g, b, _ := want.At(x, y).RGBA()
			for c, w := range []uint32{r >> 8, g >> 8, b >> 8} {
				v := int(got[(y*97+x)*3+c])
				d := max(v-int(w), int(w)-v)
				if d > 1 {
					t.Fatalf("at %d,%d channel %d: %d, libvips' profile gives %d", x, y, c, v, w)
				}
				if d == 0 {
					same++
				}
			}
			if u, _, _, _ := unconverted.At(x, y).RGBA(); int(u>>8) != int(got[(y*97+x)*3]) {
				moved++
			}
		}
	}
	if total := 97 * 61 * 3; same < total*95/100 {
		t.Errorf("%d of %d values the same as through libvips' profile, want 95%%", same, total)
	}
	if moved < 97*61/2 {
		t.Errorf("the conversion from P3 changed the red of only %d of %d pixels: the check has no teeth", moved, 97*61)
	}
}
