// Command ssim scores encoded outputs against a high-quality reference
// resize of their source, for the quality guard of the benchmark
// (bench/run.sh). For every output it asks the vips command line for a
// reference of the same size, resized (lanczos3, no shrink-on-load) from
// the full-size oriented source, centre-cropped for cover variants, and
// prints one JSON line: the output's bytes, size, and its SSIM against the
// reference.
//
//	ssim -src ORIENTED.v [-cover xs,sm] [-tmp DIR] OUTPUT...
//
// SSIM is Wang et al.'s (2004) on luma (BT.601), with an 11x11 Gaussian
// window (sigma 1.5), K1 = 0.01, K2 = 0.03: 1 is identical, and a
// difference of 0.005 is about where artefacts start to be visible at
// these sizes.
//
// With -butteraugli it also runs libjxl's butteraugli_main (Debian
// libjxl-devtools) on the same pair, both composited on white, and adds
// its 3-norm ("butteraugli": 0 is identical, lower is better; about 1 is
// where a difference starts to show at 1:1) and its maximum distance
// ("butteraugliMax"). Butteraugli compares colour as well as luma, in a
// model of the eye's sensitivity, so it sees what luma SSIM cannot
// (chroma subsampling, colour shifts).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	_ "image/jpeg"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	_ "golang.org/x/image/webp"
)

type line struct {
	File   string  `json:"file"`
	Bytes  int64   `json:"bytes"`
	Width  int     `json:"width"`
	Height int     `json:"height"`
	SSIM   float64 `json:"ssim"`
	BA     float64 `json:"butteraugli,omitempty"`
	BAMax  float64 `json:"butteraugliMax,omitempty"`
}

func main() {
	src := flag.String("src", "", "full-size oriented source (any format the vips CLI reads)")
	cover := flag.String("cover", "xs,sm", "comma-separated output names (file name without extension) that are centre-cropped covers")
	tmp := flag.String("tmp", "", "directory for the references (default: a temporary one)")
	ba := flag.Bool("butteraugli", false, "also score with butteraugli_main (Debian libjxl-devtools)")
	flag.Parse()
	if *src == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: ssim -src ORIENTED [-cover xs,sm] OUTPUT...")
		os.Exit(2)
	}
	dir := *tmp
	if dir == "" {
		d, err := os.MkdirTemp("", "ssim")
		check(err)
		defer os.RemoveAll(d)
		dir = d
	}
	covers := map[string]bool{}
	for _, c := range strings.Split(*cover, ",") {
		covers[c] = true
	}
	enc := json.NewEncoder(os.Stdout)
	for _, out := range flag.Args() {
		img := load(out)
		b := img.Bounds()
		name := strings.TrimSuffix(filepath.Base(out), filepath.Ext(out))
		ref := filepath.Join(dir, fmt.Sprintf("ref-%dx%d-%v.png", b.Dx(), b.Dy(), covers[name]))
		if _, err := os.Stat(ref); err != nil {
			args := []string{"thumbnail", *src, ref, fmt.Sprint(b.Dx()), "--height", fmt.Sprint(b.Dy()), "--no-rotate"}
			if covers[name] {
				args = append(args, "--crop", "centre")
			} else {
				args = append(args, "--size", "force")
			}
			if msg, err := exec.Command("vips", args...).CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "vips %v: %v\n%s", args, err, msg)
				os.Exit(1)
			}
		}
		st, err := os.Stat(out)
		check(err)
		l := line{File: out, Bytes: st.Size(), Width: b.Dx(), Height: b.Dy(),
			SSIM: math.Round(ssim(luma(load(ref)), luma(img))*1e5) / 1e5}
		if *ba {
			l.BA, l.BAMax = butteraugli(dir, ref, out)
		}
		enc.Encode(l)
	}
}

// butteraugli scores the output file out against the reference PNG ref with
// butteraugli_main, both composited on white (it would otherwise read
// alpha its own way): the 3-norm and the maximum distance.
func butteraugli(dir, ref, out string) (pnorm, maxDist float64) {
	a := filepath.Join(dir, "ba-ref.png")
	b := filepath.Join(dir, "ba-out.png")
	writeOnWhite(a, load(ref))
	// The output is decoded by the vips CLI (libwebp's own decoder, with
	// its smooth chroma upsampling, as browsers do), not by x/image/webp,
	// whose nearest-neighbour chroma would dominate the score.
	if msg, err := exec.Command("vips", "copy", out, b).CombinedOutput(); err != nil {
		check(fmt.Errorf("vips copy %s: %v\n%s", out, err, msg))
	}
	writeOnWhite(b, load(b))
	said, err := exec.Command("butteraugli_main", a, b, "--pnorm", "3").Output()
	if err != nil {
		check(fmt.Errorf("butteraugli_main %s: %v", out, err))
	}
	// Two lines: the maximum distance, then "3-norm: X".
	if _, err := fmt.Sscanf(string(said), "%g\n3-norm: %g", &maxDist, &pnorm); err != nil {
		check(fmt.Errorf("butteraugli_main said %q: %v", said, err))
	}
	return math.Round(pnorm*1e4) / 1e4, math.Round(maxDist*1e3) / 1e3
}

func writeOnWhite(path string, img image.Image) {
	b := img.Bounds()
	flat := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := range b.Dy() {
		for x := range b.Dx() {
			r, g, bl, a := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			w := 0xffff - a
			i := y*flat.Stride + x*4
			flat.Pix[i], flat.Pix[i+1], flat.Pix[i+2], flat.Pix[i+3] = uint8((r+w)>>8), uint8((g+w)>>8), uint8((bl+w)>>8), 255
		}
	}
	f, err := os.Create(path)
	check(err)
	check(png.Encode(f, flat))
	check(f.Close())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func load(path string) image.Image {
	f, err := os.Open(path)
	check(err)
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		check(fmt.Errorf("%s: %w", path, err))
	}
	return img
}

type plane struct {
	w, h int
	p    []float64
}

// luma is Y' (BT.601) in 0..255, alpha composited on white.
func luma(img image.Image) plane {
	b := img.Bounds()
	out := plane{b.Dx(), b.Dy(), make([]float64, b.Dx()*b.Dy())}
	for y := 0; y < out.h; y++ {
		for x := 0; x < out.w; x++ {
			r, g, bl, a := img.At(b.Min.X+x, b.Min.Y+y).RGBA() // premultiplied, 16 bit
			white := float64(0xffff - a)
			rr, gg, bb := float64(r)+white, float64(g)+white, float64(bl)+white
			out.p[y*out.w+x] = (0.299*rr + 0.587*gg + 0.114*bb) / 257
		}
	}
	return out
}

// blur is a separable Gaussian (11 taps, sigma 1.5) over the valid region,
// so the result is (w-10) x (h-10).
func blur(in plane) plane {
	const r = 5
	var k [2*r + 1]float64
	sum := 0.0
	for i := range k {
		d := float64(i - r)
		k[i] = math.Exp(-d * d / (2 * 1.5 * 1.5))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	w, h := in.w-2*r, in.h-2*r
	tmp := make([]float64, w*in.h)
	for y := 0; y < in.h; y++ {
		row := in.p[y*in.w:]
		for x := 0; x < w; x++ {
			s := 0.0
			for i, kv := range k {
				s += kv * row[x+i]
			}
			tmp[y*w+x] = s
		}
	}
	out := plane{w, h, make([]float64, w*h)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			s := 0.0
			for i, kv := range k {
				s += kv * tmp[(y+i)*w+x]
			}
			out.p[y*w+x] = s
		}
	}
	return out
}

func mul(a, b plane) plane {
	out := plane{a.w, a.h, make([]float64, len(a.p))}
	for i := range a.p {
		out.p[i] = a.p[i] * b.p[i]
	}
	return out
}

// ssim is the mean SSIM of two planes of the same size; planes smaller
// than the window are compared whole.
func ssim(a, b plane) float64 {
	if a.w != b.w || a.h != b.h {
		check(fmt.Errorf("reference is %dx%d, output %dx%d", a.w, a.h, b.w, b.h))
	}
	const c1, c2 = (0.01 * 255) * (0.01 * 255), (0.03 * 255) * (0.03 * 255)
	if a.w <= 10 || a.h <= 10 {
		var ma, mb, va, vb, cov float64
		n := float64(len(a.p))
		for i := range a.p {
			ma += a.p[i] / n
			mb += b.p[i] / n
		}
		for i := range a.p {
			da, db := a.p[i]-ma, b.p[i]-mb
			va += da * da / n
			vb += db * db / n
			cov += da * db / n
		}
		return (2*ma*mb + c1) * (2*cov + c2) / ((ma*ma + mb*mb + c1) * (va + vb + c2))
	}
	mua, mub := blur(a), blur(b)
	saa, sbb, sab := blur(mul(a, a)), blur(mul(b, b)), blur(mul(a, b))
	total := 0.0
	for i := range mua.p {
		ma, mb := mua.p[i], mub.p[i]
		va, vb, cov := saa.p[i]-ma*ma, sbb.p[i]-mb*mb, sab.p[i]-ma*mb
		total += (2*ma*mb + c1) * (2*cov + c2) / ((ma*ma + mb*mb + c1) * (va + vb + c2))
	}
	return total / float64(len(mua.p))
}
