package imaging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/imagefile"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
	"github.com/ximagepipeline/ximagepipeline/media"
)

var testVariants = []media.Variant{
	cover("xs", 64, 64),
	cover("sm", 150, 150),
	inside("md", 400),
}

// galleryVariants are the contract's gallery source type's: md, lg, xl.
var galleryVariants = media.DefaultSourceTypes()["gallery"].Resolve(media.DefaultVariants())

// size is an output's expected width and height.
type size struct{ W, H int }

func TestProcessGenerated(t *testing.T) {
	t.Parallel()
	photo := testimages.Quadrants(600, 400)
	small := testimages.Quadrants(100, 80)
	var gifBuf bytes.Buffer
	pal := color.Palette{color.RGBA{0, 0, 0, 255}, quadrantColours[0], quadrantColours[1], quadrantColours[2], quadrantColours[3]}
	frame := func(img image.Image) *image.Paletted {
		p := image.NewPaletted(img.Bounds(), pal)
		for y := range img.Bounds().Dy() {
			for x := range img.Bounds().Dx() {
				p.Set(x, y, img.At(x, y))
			}
		}
		return p
	}
	if err := gif.EncodeAll(&gifBuf, &gif.GIF{Image: []*image.Paletted{frame(small), frame(testimages.Display(small, 3))}, Delay: []int{10, 10}}); err != nil {
		t.Fatal(err)
	}
	// A comment extension just before the trailer.
	gifSrc := append(gifBuf.Bytes()[:gifBuf.Len()-1], append([]byte{0x21, 0xFE, 14}, "comment-secret\x00\x3B"...)...)

	webpRes, err := run(context.Background(), testimages.PNG(small), media.SourceType{}, inside("x", 100))
	if err != nil {
		t.Fatal(err)
	}
	webpSrc := withWebPMetadata(t, webpRes.Variants[0].Data, 100, 80)

	tests := []struct {
		name         string
		src          []byte
		format       string
		width        int
		height       int
		variants     []size // xs, sm, md
		originalSize size
		lossless     bool // original kept byte-for-byte except metadata
	}{
		{"jpeg 600x400", testimages.TaggedJPEG(photo, 1), "jpeg", 600, 400, []size{{64, 64}, {150, 150}, {400, 267}}, size{600, 400}, true},
		// Rotated: the original is re-encoded upright.
		{"jpeg 600x400 orientation 6", testimages.TaggedJPEG(testimages.Stored(photo, 6), 6), "jpeg", 600, 400, []size{{64, 64}, {150, 150}, {400, 267}}, size{600, 400}, false},
		// Never enlarge: md keeps 100x80, sm is the largest centred square.
		{"png 100x80", testimages.PNG(small), "png", 100, 80, []size{{64, 64}, {80, 80}, {100, 80}}, size{100, 80}, true},
		{"gif animated", gifSrc, "gif", 100, 80, []size{{64, 64}, {80, 80}, {100, 80}}, size{100, 80}, true},
		{"webp with exif and xmp", webpSrc, "webp", 100, 80, []size{{64, 64}, {80, 80}, {100, 80}}, size{100, 80}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := run(context.Background(), tc.src, media.SourceType{StoreOriginal: true}, testVariants...)
			if err != nil {
				t.Fatal(err)
			}
			if res.Source.Format != tc.format || res.Width != tc.width || res.Height != tc.height {
				t.Errorf("got %s %dx%d, want %s %dx%d", res.Source.Format, res.Width, res.Height, tc.format, tc.width, tc.height)
			}
			if want := aspectRatio(tc.width, tc.height); res.AspectRatio != want {
				t.Errorf("aspect ratio %s, want %s", res.AspectRatio, want)
			}
			if len(res.BlurHash) != 4+2*(4*3-1)+2 {
				t.Errorf("blurhash %q has the wrong length for 4x3 components", res.BlurHash)
			}
			if len(res.Variants) != len(tc.variants) {
				t.Fatalf("got %d variants, want %d", len(res.Variants), len(tc.variants))
			}
			for i, v := range res.Variants {
				checkOutput(t, v, "webp", tc.variants[i])
				checkUpright(t, v)
			}
			o := res.Original
			if o == nil || o.Format != tc.format || o.Name != "original" {
				t.Fatalf("original %+v, want format %s", o, tc.format)
			}
			checkOutput(t, *o, tc.format, tc.originalSize)
			checkUpright(t, *o)
			// Lossless originals carry the source's coded image data verbatim.
			mid := o.Data[len(o.Data)/2 : len(o.Data)/2+16]
			if lossless := bytes.Contains(tc.src, mid); lossless != tc.lossless {
				t.Errorf("original (%d bytes from %d) lossless=%v, want %v", len(o.Data), len(tc.src), lossless, tc.lossless)
			}
		})
	}
}

// checkOutput checks an output's declared and real format and size, and
// that it carries no metadata.
func checkOutput(t *testing.T, o Output, format string, want size) {
	t.Helper()
	h, err := imagefile.ReadHeader(bytes.NewReader(o.Data))
	if err != nil {
		t.Fatalf("%s: %v", o.Name, err)
	}
	if o.Format != format || h.Format != format || h.Width != want.W || h.Height != want.H ||
		o.Width != want.W || o.Height != want.H {
		t.Errorf("%s: declared %s %dx%d, real %s %dx%d, want %s %dx%d",
			o.Name, o.Format, o.Width, o.Height, h.Format, h.Width, h.Height, format, want.W, want.H)
	}
	assertNoMetadata(t, format, o.Data)
}

// checkUpright decodes an output of a quadrants picture and checks the
// colour near each corner.
func checkUpright(t *testing.T, o Output) {
	t.Helper()
	img := decodeForTest(t, o.Data, o.Width)
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	corners := [4]image.Point{{w / 5, h / 5}, {w * 4 / 5, h / 5}, {w / 5, h * 4 / 5}, {w * 4 / 5, h * 4 / 5}}
	for q, p := range corners {
		got, want := img.RGBAAt(p.X, p.Y), quadrantColours[q]
		if d := max(absDiff(got.R, want.R), absDiff(got.G, want.G), absDiff(got.B, want.B)); d > 40 {
			t.Errorf("%s %s: quadrant %d is %v, want %v (not upright?)", o.Name, o.Format, q, got, want)
		}
	}
}

func absDiff(a, b uint8) int { return max(int(a)-int(b), int(b)-int(a)) }

// TestProcessOrientations checks all 8 EXIF orientations of a generated
// picture come out upright and un-mirrored.
func TestProcessOrientations(t *testing.T) {
	t.Parallel()
	upright := testimages.Quadrants(90, 60)
	for o := 1; o <= 8; o++ {
		t.Run(fmt.Sprint(o), func(t *testing.T) {
			t.Parallel()
			res, err := run(context.Background(), testimages.TaggedJPEG(testimages.Stored(upright, o), o), media.SourceType{StoreOriginal: true}, inside("md", 400))
			if err != nil {
				t.Fatal(err)
			}
			if res.Source.Orientation != o || res.Width != 90 || res.Height != 60 {
				t.Errorf("orientation %d, %dx%d; want %d, 90x60", res.Source.Orientation, res.Width, res.Height, o)
			}
			checkUpright(t, res.Variants[0])
			checkUpright(t, *res.Original)
			assertNoMetadata(t, "jpeg", res.Original.Data)
		})
	}
}

// TestProcessRealOrientations compares every Landscape_N and Portrait_N
// with orientation 1 on small thumbnails.
func TestProcessRealOrientations(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"Landscape", "Portrait"} {
		ref := testimages.Shared(t, kind+"_1.jpg")
		refRes, err := run(context.Background(), ref, media.SourceType{}, inside("t", 48))
		if err != nil {
			t.Fatal(err)
		}
		refImg := decodeForTest(t, refRes.Variants[0].Data, 48)
		for o := 1; o <= 8; o++ {
			t.Run(fmt.Sprintf("%s_%d", kind, o), func(t *testing.T) {
				t.Parallel()
				res, err := run(context.Background(), testimages.Shared(t, fmt.Sprintf("%s_%d.jpg", kind, o)), media.SourceType{StoreOriginal: true}, inside("t", 48))
				if err != nil {
					t.Fatal(err)
				}
				if res.Source.Orientation != o || res.Width != refRes.Width || res.Height != refRes.Height {
					t.Fatalf("orientation %d %dx%d, want %d %dx%d", res.Source.Orientation, res.Width, res.Height, o, refRes.Width, refRes.Height)
				}
				got := decodeForTest(t, res.Variants[0].Data, 48)
				if d := meanDiff(got, refImg); d > 12 {
					t.Errorf("mean difference from %s_1 is %.1f, want < 12", kind, d)
				}
				// A mirrored result must be told apart: the check has teeth.
				if d := meanDiff(toRGBA(testimages.Display(got, 2)), refImg); d < 20 {
					t.Errorf("mirror differs by only %.1f: the comparison cannot see orientation", d)
				}
				assertNoMetadata(t, "webp", res.Variants[0].Data)
				assertNoMetadata(t, "jpeg", res.Original.Data)
			})
		}
	}
}

// TestProcessRealImages runs every shared test image through the gallery
// source type plus AVIF and checks the outputs.
func TestProcessRealImages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file       string
		format     string
		width      int
		height     int
		colorSpace string
		alpha      bool
		frames     int
	}{
		{"2569067123_aca715a2ee_o.jpg", "jpeg", 2725, 2225, "srgb", false, 1},
		{"320x240.jpg", "jpeg", 320, 240, "srgb", false, 1},
		{"Channel_digital_image_CMYK_color.jpg", "jpeg", 500, 333, "cmyk", false, 1},
		{"gamma_dalai_lama_gray.jpg", "jpeg", 258, 222, "srgb", false, 1},
		{"16-bit-grey-alpha.png", "png", 109, 96, "grey16", true, 1},
		{"blackbug.png", "png", 2048, 1536, "srgb", true, 1},
		{"with-alpha.png", "png", 256, 192, "srgb", true, 1},
		{"p3.png", "png", 8, 8, "srgb", true, 1},
		{"animated-loop-3.gif", "gif", 370, 285, "srgb", true, 10},
		{"4.webp", "webp", 1024, 772, "srgb", false, 1},
		{"pitm.avif", "avif", 4096, 800, "srgb", false, 5},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			src := testimages.Shared(t, tc.file)
			// Re-encoding the 4096x800 AVIF original takes ~15 s with libaom.
			keep := tc.format != "avif"
			res, err := run(context.Background(), src, media.SourceType{Quality: 82, StoreOriginal: keep}, galleryVariants...)
			if err != nil {
				t.Fatal(err)
			}
			s := res.Source
			if s.Format != tc.format || s.Width != tc.width || s.Height != tc.height || s.ColorSpace != tc.colorSpace ||
				s.HasAlpha != tc.alpha || s.Frames != tc.frames || s.Bytes != int64(len(src)) {
				t.Errorf("source %+v, want %s %dx%d %s alpha=%v frames=%d", s, tc.format, tc.width, tc.height, tc.colorSpace, tc.alpha, tc.frames)
			}
			h, err := imagefile.ReadHeader(bytes.NewReader(src))
			if err != nil || h.Width != s.Width || h.Height != s.Height || h.Format != s.Format {
				t.Errorf("ReadHeader %+v %v disagrees with libvips %+v", h, err, s)
			}
			for i, v := range res.Variants {
				w := min(galleryVariants[i].Width, res.Width)
				want := size{w, max(1, int(float64(res.Height)*float64(w)/float64(res.Width)+0.5))}
				checkOutput(t, v, "webp", want)
			}
			if keep {
				if res.Original.Format != tc.format || len(res.Original.Data) == 0 {
					t.Errorf("original %s of %d bytes", res.Original.Format, len(res.Original.Data))
				}
				assertNoMetadata(t, tc.format, res.Original.Data)
			}
			img := decodeForTest(t, res.Variants[0].Data, res.Variants[0].Width)
			if img.Bounds().Dx() != res.Variants[0].Width {
				t.Errorf("variant decodes to width %d", img.Bounds().Dx())
			}
		})
	}
}

// TestProcessColour checks CMYK is converted to sRGB without a colour
// shift. The reference mean is libvips' icc_transform of the embedded
// profile to sRGB (vips icc_transform in.jpg out.v srgb --embedded).
func TestProcessColour(t *testing.T) {
	t.Parallel()
	src := testimages.Shared(t, "Channel_digital_image_CMYK_color.jpg")
	want := [3]float64{cmykRefR, cmykRefG, cmykRefB}
	noProfile, err := imagefile.StripMetadata("jpeg", src) // drops the APP2 ICC profile, keeps Adobe APP14
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		src []byte
		tol float64
	}{
		"with profile":    {src, 3},
		"without profile": {noProfile, 12}, // libvips' fallback CMYK profile
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res, err := run(context.Background(), tc.src, media.SourceType{}, inside("md", 400))
			if err != nil {
				t.Fatal(err)
			}
			if res.Source.ColorSpace != "cmyk" {
				t.Errorf("colour space %s, want cmyk", res.Source.ColorSpace)
			}
			got := meanColour(decodeForTest(t, res.Variants[0].Data, 400))
			for c := range 3 {
				if d := got[c] - want[c]; d > tc.tol || d < -tc.tol {
					t.Errorf("mean colour %.1f, want %.1f within %.0f", got, want, tc.tol)
					break
				}
			}
		})
	}
}

func TestProcessUndecodable(t *testing.T) {
	t.Parallel()
	noise := make([]byte, 5000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	badJPEG := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, noise...)
	valid := testimages.TaggedJPEG(testimages.Quadrants(64, 64), 1)
	tests := map[string][]byte{
		"empty":            nil,
		"noise":            noise,
		"jpeg magic+noise": badJPEG,
		"truncated jpeg":   valid[:len(valid)*2/3],
		"svg":              []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>`),
		"pdf":              []byte("%PDF-1.4\n1 0 obj\n"),
	}
	for _, name := range []string{"truncated.jpg", "corrupt-header.jpg"} {
		if src := testimages.SharedOptional(t, name); src != nil {
			tests[name] = src
		}
	}
	for name, src := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := run(context.Background(), src, media.SourceType{StoreOriginal: true}, testVariants...)
			if !errors.Is(err, ErrUndecodable) {
				t.Errorf("got %v, want ErrUndecodable", err)
			}
		})
	}
}

// TestProcessCorruptScanDecodes pins what docs/imaging.md says: bytes
// flipped inside a JPEG's entropy-coded data are not refused. libjpeg
// decodes past them (fail_on=truncated only refuses a cut-off file) and
// the variants show the damage, as a browser would.
func TestProcessCorruptScanDecodes(t *testing.T) {
	t.Parallel()
	clean := testimages.TaggedJPEG(testimages.Quadrants(256, 256), 1)
	// Walk the segments to the start of scan; flip bytes halfway through the
	// scan data, never making or breaking a 0xFF (a marker).
	i := 2
	for clean[i+1] != 0xDA {
		i += 2 + (int(clean[i+2])<<8 | int(clean[i+3]))
	}
	start := i + 2 + (int(clean[i+2])<<8 | int(clean[i+3]))
	corrupt := bytes.Clone(clean)
	flipped := 0
	for k := start + (len(corrupt)-start)/2; flipped < 16; k++ {
		if corrupt[k] == 0xFF || corrupt[k-1] == 0xFF || corrupt[k]^0x5A == 0xFF {
			continue
		}
		corrupt[k] ^= 0x5A
		flipped++
	}
	want, err := run(context.Background(), clean, media.SourceType{}, inside("md", 400))
	if err != nil {
		t.Fatal(err)
	}
	got, err := run(context.Background(), corrupt, media.SourceType{}, inside("md", 400))
	if err != nil {
		t.Fatalf("corrupt scan data: %v, want it decoded", err)
	}
	if d := meanDiff(decodeForTest(t, got.Variants[0].Data, 256), decodeForTest(t, want.Variants[0].Data, 256)); d < 1 {
		t.Errorf("the corrupt file's variant differs from the clean one by %.2f on average, want visible damage", d)
	}
}

// TestProcessConcurrent runs several images at once, as a worker pool does.
func TestProcessConcurrent(t *testing.T) {
	t.Parallel()
	srcs := [][]byte{testimages.TaggedJPEG(testimages.Stored(testimages.Quadrants(300, 200), 6), 6), testimages.PNG(testimages.Quadrants(200, 300))}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			res, err := run(context.Background(), srcs[i%2], media.SourceType{}, testVariants...)
			if err != nil {
				t.Error(err)
				return
			}
			for _, v := range res.Variants {
				checkUpright(t, v)
			}
		})
	}
	wg.Wait()
}

// A source type or a processor config that cannot be made is a plain
// error (not ErrUndecodable: the image is not at fault), and a cancelled
// context stops Process.
func TestProcessOptions(t *testing.T) {
	t.Parallel()
	src := testimages.PNG(testimages.Quadrants(40, 30))
	md := inside("md", 10)
	for name, tc := range map[string]struct {
		cfg      Config
		st       media.SourceType
		variants []media.Variant
	}{
		"bad format":      {st: media.SourceType{Formats: []string{"png"}}, variants: []media.Variant{md}},
		"bad quality":     {st: media.SourceType{Quality: 101}, variants: []media.Variant{md}},
		"no variants":     {},
		"bad fit":         {variants: []media.Variant{{Name: "x", VariantSpec: media.VariantSpec{Width: 10, Fit: "fill"}}}},
		"cover no h":      {variants: []media.Variant{{Name: "x", VariantSpec: media.VariantSpec{Width: 10, Fit: media.FitCover}}}},
		"bad WebP effort": {cfg: Config{WebPEffort: 7}, variants: []media.Variant{md}},
		"svg allowed":     {cfg: Config{AllowedTypes: []string{"image/svg+xml"}}, variants: []media.Variant{md}},
	} {
		if _, err := runWith(context.Background(), tc.cfg, src, tc.st, tc.variants...); err == nil || errors.Is(err, ErrUndecodable) {
			t.Errorf("%s: got %v, want a plain error", name, err)
		}
	}
	p, err := NewProcessor(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Process(context.Background(), src, media.SourceType{Variants: []string{"md", "nope"}}); err == nil || errors.Is(err, ErrUndecodable) {
		t.Errorf("unknown variant: got %v, want a plain error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := run(ctx, src, media.SourceType{}, testVariants...); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v", err)
	}
}

func TestProcessAVIFOutput(t *testing.T) {
	t.Parallel()
	res, err := run(context.Background(), testimages.TaggedJPEG(testimages.Quadrants(120, 90), 1), media.SourceType{Formats: []string{"webp", "avif"}}, cover("sm", 60, 60), inside("md", 100))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, format string
		size
	}{{"sm", "webp", size{60, 60}}, {"sm", "avif", size{60, 60}}, {"md", "webp", size{100, 75}}, {"md", "avif", size{100, 75}}}
	if len(res.Variants) != len(want) {
		t.Fatalf("got %d outputs, want %d", len(res.Variants), len(want))
	}
	for i, w := range want {
		v := res.Variants[i]
		if v.Name != w.name {
			t.Errorf("output %d is %s, want %s", i, v.Name, w.name)
		}
		checkOutput(t, v, w.format, w.size)
		checkUpright(t, v)
	}
}

// TestProcessSameVariantsEncodedOnce: variants that come out the same
// (inside variants wider than a small source, which never enlarge) hold
// the same bytes under their own names, in the configured order, and an
// explicit WebPEffort still applies to every output.
func TestProcessSameVariantsEncodedOnce(t *testing.T) {
	t.Parallel()
	src := testimages.OrientedJPEG(testimages.Quadrants(200, 300), 6) // upright 200x300
	variants := []media.Variant{inside("md", 400), cover("sm", 150, 150), inside("lg", 800), inside("half", 100)}
	for _, effort := range []int{0, 1} {
		res, err := runWith(context.Background(), Config{WebPEffort: effort}, src, media.SourceType{Formats: []string{"webp", "avif"}}, variants...)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			name, format string
			size
		}{
			{"md", "webp", size{200, 300}}, {"md", "avif", size{200, 300}},
			{"sm", "webp", size{150, 150}}, {"sm", "avif", size{150, 150}},
			{"lg", "webp", size{200, 300}}, {"lg", "avif", size{200, 300}},
			{"half", "webp", size{100, 150}}, {"half", "avif", size{100, 150}},
		}
		if len(res.Variants) != len(want) {
			t.Fatalf("effort %d: got %d outputs, want %d", effort, len(res.Variants), len(want))
		}
		for i, w := range want {
			v := res.Variants[i]
			if v.Name != w.name {
				t.Errorf("effort %d: output %d is %s, want %s", effort, i, v.Name, w.name)
			}
			checkOutput(t, v, w.format, w.size)
			checkUpright(t, v)
		}
		for i := range 2 {
			if !bytes.Equal(res.Variants[i].Data, res.Variants[4+i].Data) {
				t.Errorf("effort %d: md and lg %s differ", effort, res.Variants[i].Format)
			}
		}
	}
}

// TestWebPEffort: 5 for small opaque outputs, 4 for larger ones and for
// any with alpha, unless the processor sets one for all.
func TestWebPEffort(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		configured, pixels int
		alpha              bool
		want               int
	}{
		{0, 64 * 64, false, 5}, {0, 256 * 256, false, 5}, {0, 256*256 + 1, false, 4},
		{0, 150 * 150, true, 4}, {0, 1920 * 1080, false, 4}, {2, 64 * 64, false, 2}, {6, 1920 * 1080, true, 6},
	} {
		if got := webpEffort(c.configured, c.pixels, c.alpha); got != c.want {
			t.Errorf("webpEffort(%d, %d, alpha %v) = %d, want %d", c.configured, c.pixels, c.alpha, got, c.want)
		}
	}
}

// TestProcessThreads: a processor whose jobs hand encodings to goroutines
// of their own (Threads > 1) makes the same outputs, byte for byte, in the
// same order, and the same facts, as one that encodes each job on its own
// goroutine: stills and an animation, alpha, two formats, covers, a
// re-encoded original, variants made once for several names. A job
// cancelled at any of its checks ends with the context's error once its
// encodings are done (the race detector runs this in make test).
func TestProcessThreads(t *testing.T) {
	t.Parallel()
	variants := []media.Variant{inside("lg", 800), inside("md", 400), cover("sm", 150, 150), inside("xl", 1200), cover("xs", 64, 64)}
	stored := media.SourceType{Formats: []string{"webp", "avif"}, StoreOriginal: true}
	for name, tc := range map[string]struct {
		src []byte
		st  media.SourceType
	}{
		"jpeg, exif 6":          {testimages.TaggedJPEG(testimages.Stored(testimages.Busy(900, 600, 1), 6), 6), stored},
		"png with alpha":        {testimages.AlphaPNG(700, 500), media.SourceType{StoreOriginal: true}},
		"smaller than variants": {testimages.PNG(testimages.Quadrants(300, 200)), stored},
		"animation":             {animatedGIF(t), media.SourceType{Animated: true}},
		"webp and avif, covers": {testimages.JPEG(testimages.Busy(1000, 800, 2), 90), media.SourceType{Formats: []string{"webp", "avif"}}},
	} {
		one, err := runWith(context.Background(), Config{}, tc.src, tc.st, variants...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, threads := range []int{2, 8} {
			p, res := processWithThreads(t, threads, tc.src, tc.st, variants)
			if p.handed.Load() == 0 {
				t.Errorf("%s, %d threads: no encoding was handed to another goroutine", name, threads)
			}
			if len(res.Variants) != len(one.Variants) {
				t.Fatalf("%s, %d threads: %d outputs, want %d", name, threads, len(res.Variants), len(one.Variants))
			}
			for i, o := range res.Variants {
				w := one.Variants[i]
				if o.Name != w.Name || o.Format != w.Format || o.Width != w.Width || o.Height != w.Height || o.Frames != w.Frames || !bytes.Equal(o.Data, w.Data) {
					t.Errorf("%s, %d threads: output %d is %s.%s %dx%d (%d frames, %d bytes), want %s.%s %dx%d (%d frames, %d bytes), the same bytes",
						name, threads, i, o.Name, o.Format, o.Width, o.Height, o.Frames, len(o.Data), w.Name, w.Format, w.Width, w.Height, w.Frames, len(w.Data))
				}
			}
			if (res.Original == nil) != (one.Original == nil) || res.Original != nil && !bytes.Equal(res.Original.Data, one.Original.Data) {
				t.Errorf("%s, %d threads: the original differs", name, threads)
			}
			if res.BlurHash != one.BlurHash || res.FocalPoint != one.FocalPoint || res.PHash != one.PHash || res.DominantColor != one.DominantColor {
				t.Errorf("%s, %d threads: facts %q %v %x %s, want %q %v %x %s", name, threads,
					res.BlurHash, res.FocalPoint, res.PHash, res.DominantColor, one.BlurHash, one.FocalPoint, one.PHash, one.DominantColor)
			}
		}
	}

	src := testimages.JPEG(testimages.Busy(1000, 800, 3), 90)
	for n := 1; ; n++ {
		ctx := &cancelAfter{Context: context.Background(), left: n}
		p, err := NewProcessor(Config{Threads: 4, Variants: map[string]media.VariantSpec{"xl": variants[3].VariantSpec, "lg": variants[0].VariantSpec, "md": variants[1].VariantSpec}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Process(ctx, src, media.SourceType{Variants: []string{"xl", "lg", "md"}, Formats: []string{"webp", "avif"}})
		if err == nil {
			if n < 6 {
				t.Fatalf("Process made its outputs after checking its context only %d times", n-1)
			}
			break
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled at check %d: %v, want context.Canceled", n, err)
		}
		if b := p.busy.Load(); b != 0 {
			t.Fatalf("cancelled at check %d: %d goroutines still at work after Process returned", n, b)
		}
	}
}

// processWithThreads processes src with a processor of threads Threads
// whose variant table holds variants, and returns it with the result.
func processWithThreads(t *testing.T, threads int, src []byte, st media.SourceType, variants []media.Variant) (*Processor, *Result) {
	t.Helper()
	p, st, err := processorFor(Config{Threads: threads}, st, variants...)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Process(context.Background(), src, st)
	if err != nil {
		t.Fatal(err)
	}
	return p, res
}

// cancelAfter is a context that is cancelled from its left-th Err call on,
// wherever that call is made.
type cancelAfter struct {
	context.Context
	mu   sync.Mutex
	left int
}

func (c *cancelAfter) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.left--; c.left <= 0 {
		return context.Canceled
	}
	return nil
}
