package ximagepipeline_test

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/placeholder"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// upload describes one image sent through the pipeline and what its media
// must say.
type upload struct {
	name                 string
	data                 []byte
	sourceType, sourceID string
	uprightW, uprightH   int // after orientation
	storedW, storedH     int // as in the file
	orientation          int
	format               string // jpeg png gif webp
	frames               int
	hasAlpha             bool // the source has an alpha channel
	transparent          bool // and some of it is not opaque: outputs must keep it
	// pixels, when set, checks a decoded output ("original" or a variant name).
	pixels func(t *testing.T, output string, img image.Image)
}

// outputs are the decoded outputs of one media, by variant name and "original".
type outputs map[string]image.Image

var mediaKeys = []string{"aspectRatio", "blurhash", "createdAt", "dominantColor", "focalPoint", "format", "height", "id", "metadata",
	"originalUrl", "sourceId", "sourceType", "srcset", "thumbhash", "urls", "variants", "width"}

const blurhashChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"

// checkMedia checks a media object against its upload as a client would:
// every field, then every variant and the original fetched from the
// server, decoded, measured and searched for metadata. It returns the
// decoded outputs.
func checkMedia(e *env, u upload, raw map[string]any, variants map[string]xip.VariantSpec, sourceTypes map[string]xip.SourceType) outputs {
	t := e.t
	t.Helper()
	if got := slices.Sorted(maps.Keys(raw)); !slices.Equal(got, mediaKeys) {
		t.Errorf("media keys %v, want %v", got, mediaKeys)
	}
	var m xip.Media
	js, _ := json.Marshal(raw)
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatalf("media does not decode: %v", err)
	}
	st := sourceTypes[u.sourceType]

	if m.ID == "" || m.SourceType != u.sourceType || m.SourceID != u.sourceID {
		t.Errorf("id %q sourceType %q sourceId %q, want a id, %q, %q", m.ID, m.SourceType, m.SourceID, u.sourceType, u.sourceID)
	}
	if m.Width != u.uprightW || m.Height != u.uprightH {
		t.Errorf("size %dx%d, want %dx%d (after orientation)", m.Width, m.Height, u.uprightW, u.uprightH)
	}
	if want := ratio(u.uprightW, u.uprightH); m.AspectRatio != want {
		t.Errorf("aspectRatio %q, want %q", m.AspectRatio, want)
	}
	if len(m.BlurHash) != 28 || strings.Trim(m.BlurHash, blurhashChars) != "" {
		t.Errorf("blurhash %q: want 28 base83 characters (4x3 components)", m.BlurHash)
	} else if flag := blurhashChars[(4-1)+(3-1)*9]; m.BlurHash[0] != flag {
		t.Errorf("blurhash %q does not start with the 4x3 size flag %q", m.BlurHash, flag)
	}
	checkPlaceholders(t, m)
	if m.Format != u.format {
		t.Errorf("format %q, want %q", m.Format, u.format)
	}
	if fp := m.FocalPoint; fp.X < 0 || fp.X > 1 || fp.Y < 0 || fp.Y > 1 {
		t.Errorf("focalPoint %+v not in 0..1", fp)
	}
	if _, ok := raw["focalPoint"].(map[string]any)["x"]; !ok {
		t.Errorf("focalPoint %v has no x", raw["focalPoint"])
	}
	wantMeta := xip.SourceMetadata{
		Format: u.format, Bytes: int64(len(u.data)), Width: u.storedW, Height: u.storedH,
		Orientation: u.orientation, HasAlpha: u.hasAlpha, Frames: u.frames, ColorSpace: m.Metadata.ColorSpace,
	}
	if m.Metadata != wantMeta || m.Metadata.ColorSpace == "" {
		t.Errorf("metadata %+v, want %+v with a colorSpace", m.Metadata, wantMeta)
	}
	if m.CreatedAt.IsZero() || time.Since(m.CreatedAt) > time.Hour || time.Until(m.CreatedAt) > time.Minute {
		t.Errorf("createdAt %v is not now", m.CreatedAt)
	}

	// Variants: exactly the source type's, each a WebP as described.
	if got, want := slices.Sorted(maps.Keys(m.Variants)), slices.Sorted(slices.Values(st.Variants)); !slices.Equal(got, want) {
		t.Errorf("variants %v, want %v", got, want)
	}
	if got, want := slices.Sorted(maps.Keys(m.URLs)), slices.Sorted(slices.Values(st.Variants)); !slices.Equal(got, want) {
		t.Errorf("urls %v, want %v", got, want)
	}
	out := outputs{}
	base := fmt.Sprintf("%s/files/media/%s/%s/%s/", e.prefix(), u.sourceType, u.sourceID, m.ID)
	for name, v := range m.Variants {
		if m.URLs[name] != v.URL {
			t.Errorf("%s: urls says %q, variants says %q", name, m.URLs[name], v.URL)
		}
		if want := base + name + ".webp"; v.URL != want {
			t.Errorf("%s: url %q, want %q", name, v.URL, want)
		}
		if v.Format != "webp" {
			t.Errorf("%s: format %q, want webp", name, v.Format)
		}
		data, ct := e.fetch(v.URL)
		if ct != "image/webp" {
			t.Errorf("%s: Content-Type %q", name, ct)
		}
		if int64(len(data)) != v.Bytes {
			t.Errorf("%s: %d bytes fetched, media says %d", name, len(data), v.Bytes)
		}
		// Transparency is kept; an opaque alpha channel may be dropped.
		alpha := assertCleanWebP(t, name, data)
		if u.transparent && !alpha {
			t.Errorf("%s: the source is transparent, the WebP has no alpha", name)
		}
		if alpha && !u.hasAlpha {
			t.Errorf("%s: the WebP has alpha, the source has none", name)
		}
		assertNoMarkers(t, name, data)
		img, format := decode(t, data)
		if format != "webp" {
			t.Errorf("%s: decodes as %s", name, format)
		}
		w, h := img.Bounds().Dx(), img.Bounds().Dy()
		if w != v.Width || h != v.Height {
			t.Errorf("%s: decoded %dx%d, media says %dx%d", name, w, h, v.Width, v.Height)
		}
		checkSize(t, name, variants[name], u.uprightW, u.uprightH, w, h)
		if u.pixels != nil {
			u.pixels(t, name, img)
		}
		out[name] = img
	}

	checkSrcset(t, m, variants)

	// The original: stored when the source type says so, upright, clean.
	if !st.StoreOriginal {
		if m.OriginalURL != nil || raw["originalUrl"] != nil {
			t.Errorf("originalUrl %v, want null", raw["originalUrl"])
		}
		if f := e.files("originals/" + u.sourceType); len(f) > 0 {
			t.Errorf("originals stored for %s: %v", u.sourceType, f)
		}
		return out
	}
	ext := map[string]string{"jpeg": "jpg"}[u.format]
	if ext == "" {
		ext = u.format
	}
	want := fmt.Sprintf("%s/files/originals/%s/%s/%s/original.%s", e.prefix(), u.sourceType, u.sourceID, m.ID, ext)
	if m.OriginalURL == nil || *m.OriginalURL != want {
		t.Errorf("originalUrl %v, want %q", raw["originalUrl"], want)
		return out
	}
	data, _ := e.fetch(*m.OriginalURL)
	assertNoMarkers(t, "original", data)
	switch u.format {
	case "jpeg":
		assertCleanJPEG(t, "original", data)
	case "png":
		assertCleanPNG(t, "original", data)
	case "webp":
		assertCleanWebP(t, "original", data)
	}
	img, format := decode(t, data)
	if format != u.format {
		t.Errorf("original: format %s, want %s", format, u.format)
	}
	if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w != u.uprightW || h != u.uprightH {
		t.Errorf("original: %dx%d, want %dx%d upright", w, h, u.uprightW, u.uprightH)
	}
	if u.pixels != nil {
		u.pixels(t, "original", img)
	}
	out["original"] = img
	return out
}

// checkSize checks an output's size against its variant: cover is exactly
// the box when the source covers it, else the largest crop of the box's
// shape; inside bounds the width (and height) keeping the aspect ratio;
// neither enlarges.
func checkSize(t *testing.T, name string, v xip.VariantSpec, srcW, srcH, w, h int) {
	t.Helper()
	if w > srcW || h > srcH {
		t.Errorf("%s: %dx%d enlarges the %dx%d source", name, w, h, srcW, srcH)
	}
	switch v.Fit {
	case xip.FitCover:
		if srcW >= v.Width && srcH >= v.Height {
			if w != v.Width || h != v.Height {
				t.Errorf("%s: cover %dx%d of a %dx%d source is %dx%d", name, v.Width, v.Height, srcW, srcH, w, h)
			}
			return
		}
		// Smaller source: the box's shape, as large as the source allows.
		if abs(w*v.Height-h*v.Width) > max(v.Width, v.Height) || (w < srcW-1 && h < srcH-1) || w > v.Width || h > v.Height {
			t.Errorf("%s: cover %dx%d of a small %dx%d source is %dx%d", name, v.Width, v.Height, srcW, srcH, w, h)
		}
	default:
		s := math.Min(1, float64(v.Width)/float64(srcW))
		if v.Height > 0 {
			s = math.Min(s, float64(v.Height)/float64(srcH))
		}
		ww, wh := float64(srcW)*s, float64(srcH)*s
		if math.Abs(float64(w)-ww) > 1 || math.Abs(float64(h)-wh) > 1 {
			t.Errorf("%s: inside %dx%d of %dx%d is %dx%d, want %.0fx%.0f", name, v.Width, v.Height, srcW, srcH, w, h, ww, wh)
		}
	}
}

func abs(x int) int { return max(x, -x) }

func ratio(w, h int) string {
	a, b := w, h
	for b != 0 {
		a, b = b, a%b
	}
	return fmt.Sprintf("%d:%d", w/a, h/a)
}

// assertNoMarkers fails if an output carries any metadata text of the
// generated inputs (camera make, XMP, comment, PNG text).
func assertNoMarkers(t *testing.T, name string, data []byte) {
	t.Helper()
	for _, m := range []string{testimages.CameraMake, testimages.XMPMarker, testimages.CommentMarker, testimages.IPTCMarker, testimages.TextMarker, "Exif\x00\x00", "<x:xmpmeta"} {
		if bytes.Contains(data, []byte(m)) {
			t.Errorf("%s: still contains %q", name, m)
		}
	}
}

// assertCleanPNG fails if a PNG has text, EXIF or time chunks.
func assertCleanPNG(t *testing.T, name string, data []byte) {
	t.Helper()
	if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("%s: not a PNG", name)
	}
	for i := 8; i+8 <= len(data); {
		n := int(binary.BigEndian.Uint32(data[i:]))
		typ := string(data[i+4 : i+8])
		switch typ {
		case "tEXt", "iTXt", "zTXt", "eXIf", "tIME":
			t.Errorf("%s: has a %s chunk", name, typ)
		}
		i += 12 + n
	}
}

// quadrants checks a generated Quadrants image came out upright.
func quadrants(t *testing.T, output string, img image.Image) {
	t.Helper()
	if got := testimages.QuadrantColors(img); got != testimages.Upright {
		t.Errorf("%s: quadrants %v, want upright %v", output, got, testimages.Upright)
	}
}

// TestEndToEndGenerated sends generated images through HTTP: JPEGs in the
// eight EXIF orientations carrying EXIF, GPS, XMP and a comment, a PNG with
// alpha, an animated GIF, a PNG with text, and images smaller than every
// variant. Every variant and original is fetched, decoded and checked:
// size, WebP format, upright pixels, no metadata; and every media field.
func TestEndToEndGenerated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	up := testimages.Quadrants(600, 400)
	var cases []upload
	for o := 1; o <= 8; o++ {
		sw, sh := 600, 400
		if o >= 5 {
			sw, sh = 400, 600
		}
		for _, st := range []string{"gallery", "avatar"} {
			cases = append(cases, upload{
				name: fmt.Sprintf("orientation %d %s", o, st), data: testimages.OrientedJPEG(up, o),
				sourceType: st, sourceID: fmt.Sprintf("gen-o%d", o),
				uprightW: 600, uprightH: 400, storedW: sw, storedH: sh, orientation: o, format: "jpeg", frames: 1,
				pixels: quadrants,
			})
		}
	}
	// A portrait one, so that cover crops cut the other way.
	cases = append(cases, upload{
		name: "portrait orientation 6 member_photo", data: testimages.OrientedJPEG(testimages.Quadrants(300, 500), 6),
		sourceType: "member_photo", sourceID: "gen-portrait",
		uprightW: 300, uprightH: 500, storedW: 500, storedH: 300, orientation: 6, format: "jpeg", frames: 1, pixels: quadrants,
	})
	alphaPixels := func(t *testing.T, output string, img image.Image) {
		t.Helper()
		b := img.Bounds()
		l := img.At(b.Min.X+b.Dx()/4, b.Min.Y+b.Dy()/2)
		r := img.At(b.Min.X+b.Dx()*3/4, b.Min.Y+b.Dy()/2)
		if output == "sm" {
			// A cover crop is centred on the focal point, which the
			// saliency puts on the red half: it may show only red.
			r = color.NRGBA{}
		}
		if testimages.ColorName(l) != "red" || color.NRGBAModel.Convert(r).(color.NRGBA).A != 0 {
			t.Errorf("%s: left %v right %v, want opaque red and fully transparent", output, l, r)
		}
	}
	cases = append(cases, upload{
		name: "png with alpha", data: testimages.AlphaPNG(200, 100), sourceType: "content", sourceID: "gen-alpha",
		uprightW: 200, uprightH: 100, storedW: 200, storedH: 100, orientation: 1, format: "png", frames: 1, hasAlpha: true,
		transparent: true, pixels: alphaPixels,
	})
	cases = append(cases, upload{
		name: "png with text", data: testimages.PNG(testimages.Quadrants(500, 300)), sourceType: "gallery", sourceID: "gen-png",
		uprightW: 500, uprightH: 300, storedW: 500, storedH: 300, orientation: 1, format: "png", frames: 1,
		pixels: quadrants,
	})
	firstFrame := func(t *testing.T, output string, img image.Image) {
		t.Helper()
		b := img.Bounds()
		for _, p := range []image.Point{{b.Dx() / 4, b.Dy() / 4}, {b.Dx() / 2, b.Dy() / 2}, {b.Dx() * 3 / 4, b.Dy() * 3 / 4}} {
			if c := testimages.ColorName(img.At(b.Min.X+p.X, b.Min.Y+p.Y)); c != "red" {
				t.Errorf("%s: %s at %v, want red (the first frame only)", output, c, p)
			}
		}
	}
	cases = append(cases, upload{
		name: "animated gif", data: testimages.AnimatedGIF(160, 120, testimages.Red, testimages.Blue, testimages.Green),
		sourceType: "avatar", sourceID: "gen-gif",
		uprightW: 160, uprightH: 120, storedW: 160, storedH: 120, orientation: 1, format: "gif", frames: 3,
		pixels: firstFrame,
	})
	for _, st := range []string{"avatar", "gallery"} {
		cases = append(cases, upload{
			name: "tiny " + st, data: testimages.OrientedJPEG(testimages.Quadrants(40, 30), 8), sourceType: st, sourceID: "gen-tiny",
			uprightW: 40, uprightH: 30, storedW: 30, storedH: 40, orientation: 8, format: "jpeg", frames: 1, pixels: quadrants,
		})
	}
	cases = append(cases, upload{
		name: "odd size hero", data: testimages.JPEG(testimages.Quadrants(601, 401), 90), sourceType: "hero", sourceID: "gen-odd",
		uprightW: 601, uprightH: 401, storedW: 601, storedH: 401, orientation: 1, format: "jpeg", frames: 1, pixels: quadrants,
	})

	ids := make([]string, len(cases))
	for i, c := range cases {
		ids[i] = e.uploadOK(c.sourceType, c.sourceID, "upload", c.data)
	}
	t.Run("outputs", func(t *testing.T) {
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				se := e.sub(t)
				checkMedia(se, c, se.waitMedia(ids[i]), xip.DefaultVariants(), xip.DefaultSourceTypes())
			})
		}
	})
	e.waitNothingStaged()
}

// TestEndToEndRealImages sends the shared Landscape_1..8 and Portrait_1..8
// photos (the eight EXIF orientations of one picture each) through HTTP as
// gallery and avatar, checks every media field and output, and that every
// orientation's output matches the orientation-1 output pixel for pixel
// (a mean absolute difference on a grid), while a mirrored one does not.
func TestEndToEndRealImages(t *testing.T) {
	t.Parallel()
	realImage(t, "Landscape_1.jpg") // skips when the shared images are absent
	e := newEnv(t, nil)
	type key struct {
		kind, st string
		o        int
	}
	uploads := map[key]upload{}
	ids := map[key]string{}
	for _, kind := range []string{"Landscape", "Portrait"} {
		for o := 1; o <= 8; o++ {
			data := realImage(t, fmt.Sprintf("%s_%d.jpg", kind, o))
			w, h := 600, 450
			if kind == "Portrait" {
				w, h = 450, 600
			}
			sw, sh := w, h
			if o >= 5 {
				sw, sh = h, w
			}
			for _, st := range []string{"gallery", "avatar"} {
				k := key{kind, st, o}
				uploads[k] = upload{
					name: fmt.Sprintf("%s_%d %s", kind, o, st), data: data, sourceType: st, sourceID: strings.ToLower(kind),
					uprightW: w, uprightH: h, storedW: sw, storedH: sh, orientation: o, format: "jpeg", frames: 1,
				}
				ids[k] = e.uploadOK(st, strings.ToLower(kind), fmt.Sprintf("%s_%d.jpg", kind, o), data)
			}
		}
	}
	results := map[key]outputs{}
	for k, u := range uploads {
		t.Run(u.name, func(t *testing.T) {
			results[k] = checkMedia(e.sub(t), u, e.sub(t).waitMedia(ids[k]), xip.DefaultVariants(), xip.DefaultSourceTypes())
		})
	}
	// Upright: every orientation looks like orientation 1.
	const threshold = 10.0 // mean absolute difference, 0-255; upright outputs differ by < 6
	for k, out := range results {
		if k.o == 1 {
			continue
		}
		ref := results[key{k.kind, k.st, 1}]
		for name, img := range out {
			d := mad(img, ref[name])
			if d > threshold {
				t.Errorf("%s_%d %s %s: differs from orientation 1 by %.1f (> %.0f): not upright", k.kind, k.o, k.st, name, d, threshold)
			}
		}
	}
	// The measure can tell: a mirrored output differs far more.
	for _, kind := range []string{"Landscape", "Portrait"} {
		ref := results[key{kind, "gallery", 1}]["md"]
		for _, o := range []int{2, 3, 4} {
			if d := mad(ref, testimages.Display(ref, o)); d < 2*threshold {
				t.Errorf("%s md in orientation %d differs by only %.1f: the orientation check cannot tell", kind, o, d)
			}
		}
	}
	e.waitNothingStaged()
}

// mad is the mean absolute difference of two images' RGB on a 32x32 grid;
// +Inf when their sizes differ.
func mad(a, b image.Image) float64 {
	if a == nil || b == nil || a.Bounds().Size() != b.Bounds().Size() {
		return math.Inf(1)
	}
	ab, bb := a.Bounds(), b.Bounds()
	var sum float64
	const n = 32
	for i := range n {
		for j := range n {
			x, y := (2*i+1)*ab.Dx()/(2*n), (2*j+1)*ab.Dy()/(2*n)
			ca := color.NRGBAModel.Convert(a.At(ab.Min.X+x, ab.Min.Y+y)).(color.NRGBA)
			cb := color.NRGBAModel.Convert(b.At(bb.Min.X+x, bb.Min.Y+y)).(color.NRGBA)
			sum += math.Abs(float64(ca.R)-float64(cb.R)) + math.Abs(float64(ca.G)-float64(cb.G)) + math.Abs(float64(ca.B)-float64(cb.B))
		}
	}
	return sum / (3 * n * n)
}

// TestEndToEndRealFormats sends the other shared images (WebP, PNG with
// alpha, 16-bit grey with alpha, an animated GIF, a CMYK JPEG, a Display P3
// PNG, a greyscale JPEG, large photos) through HTTP and checks every media
// field and output as above; and that each output looks like the source as
// the Go standard library decodes it (on white, on a grid), which catches
// inverted CMYK, lost alpha, a later GIF frame or a wrong crop.
func TestEndToEndRealFormats(t *testing.T) {
	t.Parallel()
	realImage(t, "4.webp")
	e := newEnv(t, nil)
	cases := []struct {
		file    string
		st      string
		w, h    int
		format  string
		frames  int
		alpha   bool
		maxDiff float64 // mean absolute difference to the stdlib decode, 0 to skip
	}{
		{"4.webp", "gallery", 1024, 772, "webp", 1, false, 8},
		{"with-alpha.png", "content", 256, 192, "png", 1, true, 8},
		{"16-bit-grey-alpha.png", "avatar", 109, 96, "png", 1, true, 8},
		{"animated-loop-3.gif", "gallery", 370, 285, "gif", 10, true, 8},
		// The stdlib converts CMYK naively, libvips through its ICC profile:
		// they differ by about 15; inverted CMYK would differ by over 100.
		{"Channel_digital_image_CMYK_color.jpg", "gallery", 500, 333, "jpeg", 1, false, 25},
		{"p3.png", "avatar", 8, 8, "png", 1, true, 0}, // its colours change to sRGB on purpose
		// Its fine patterns lose some contrast in any WebP (7 with cwebp too).
		{"gamma_dalai_lama_gray.jpg", "member_photo", 258, 222, "jpeg", 1, false, 10},
		{"320x240.jpg", "hero", 320, 240, "jpeg", 1, false, 8},
		{"blackbug.png", "hero", 2048, 1536, "png", 1, true, 8},
		{"2569067123_aca715a2ee_o.jpg", "hero", 2725, 2225, "jpeg", 1, false, 8},
	}
	ids := make([]string, len(cases))
	for i, c := range cases {
		ids[i] = e.uploadOK(c.st, "real", c.file, realImage(t, c.file))
	}
	t.Run("outputs", func(t *testing.T) {
		for i, c := range cases {
			t.Run(c.file, func(t *testing.T) {
				t.Parallel()
				se := e.sub(t)
				data := realImage(t, c.file)
				src, _ := decode(t, data)
				u := upload{
					data: data, sourceType: c.st, sourceID: "real", format: c.format, frames: c.frames, hasAlpha: c.alpha,
					transparent: transparent(src),
					uprightW:    c.w, uprightH: c.h, storedW: c.w, storedH: c.h, orientation: 1,
				}
				if c.maxDiff > 0 {
					u.pixels = func(t *testing.T, output string, img image.Image) {
						if d := madOnWhite(src, img); d > c.maxDiff {
							t.Errorf("%s: differs from the source by %.1f (> %.0f)", output, d, c.maxDiff)
						}
					}
				}
				checkMedia(se, u, se.waitMedia(ids[i]), xip.DefaultVariants(), xip.DefaultSourceTypes())
			})
		}
	})
	e.waitNothingStaged()
}

// madOnWhite is the mean absolute difference of two images blended on
// white, compared as 24x24 cells of mean colour (so that resampling and
// fine texture do not count), over the region the output shows of the
// source: a centred crop of it when their aspect ratios differ, as cover
// variants are.
func madOnWhite(src, out image.Image) float64 {
	sb, ob := src.Bounds(), out.Bounds()
	rw, rh := float64(sb.Dx()), float64(sb.Dy())
	if ar := float64(ob.Dx()) / float64(ob.Dy()); rw/rh > ar {
		rw = rh * ar
	} else {
		rh = rw / ar
	}
	x0, y0 := float64(sb.Min.X)+(float64(sb.Dx())-rw)/2, float64(sb.Min.Y)+(float64(sb.Dy())-rh)/2
	a := cellMeans(src, x0, y0, rw, rh)
	b := cellMeans(out, float64(ob.Min.X), float64(ob.Min.Y), float64(ob.Dx()), float64(ob.Dy()))
	var sum float64
	for i := range a {
		sum += math.Abs(a[i] - b[i])
	}
	return sum / float64(len(a))
}

const cells = 24

// cellMeans averages the region (x0, y0, w, h) of img, blended on white,
// over cells x cells cells, sampling at most 8x8 pixels per cell.
func cellMeans(img image.Image, x0, y0, w, h float64) []float64 {
	out := make([]float64, 0, cells*cells*3)
	for j := range cells {
		for i := range cells {
			var sum [3]float64
			var n float64
			cx0, cx1 := x0+float64(i)*w/cells, x0+float64(i+1)*w/cells
			cy0, cy1 := y0+float64(j)*h/cells, y0+float64(j+1)*h/cells
			stepX, stepY := max(1, (cx1-cx0)/8), max(1, (cy1-cy0)/8)
			for y := cy0; y < cy1; y += stepY {
				for x := cx0; x < cx1; x += stepX {
					c := color.NRGBAModel.Convert(img.At(int(x), int(y))).(color.NRGBA)
					al := float64(c.A) / 255
					sum[0] += float64(c.R)*al + 255*(1-al)
					sum[1] += float64(c.G)*al + 255*(1-al)
					sum[2] += float64(c.B)*al + 255*(1-al)
					n++
				}
			}
			out = append(out, sum[0]/n, sum[1]/n, sum[2]/n)
		}
	}
	return out
}

// transparent reports whether any pixel of img is not fully opaque.
func transparent(img image.Image) bool {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if _, _, _, a := img.At(x, y).RGBA(); a != 0xffff {
				return true
			}
		}
	}
	return false
}

// checkSrcset checks the media's ready srcset: the WebP variants that keep
// the image's shape (the inside ones), narrowest first, or the crops when
// the source type has no other.
func checkSrcset(t *testing.T, m xip.Media, specs map[string]xip.VariantSpec) {
	t.Helper()
	var inside, crops []xip.Variant
	for name, v := range m.Variants {
		if specs[name].Fit == xip.FitInside {
			inside = append(inside, v)
		} else {
			crops = append(crops, v)
		}
	}
	want := inside
	if len(want) == 0 {
		want = crops
	}
	// A small source makes several variants of one width: one is enough,
	// the smallest file, then the first URL.
	slices.SortFunc(want, func(a, b xip.Variant) int {
		return cmp.Or(a.Width-b.Width, int(a.Bytes-b.Bytes), strings.Compare(a.URL, b.URL))
	})
	var parts []string
	for i, v := range want {
		if i > 0 && v.Width == want[i-1].Width {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %dw", v.URL, v.Width))
	}
	if got := m.Srcset["webp"]; got != strings.Join(parts, ", ") || len(m.Srcset) != 1 {
		t.Errorf("srcset %q, want webp: %q", m.Srcset, strings.Join(parts, ", "))
	}
}

// checkPlaceholders checks the ThumbHash (it decodes to a picture of the
// media's shape) and the dominant colour's form; their values are the
// placeholder package's to test.
func checkPlaceholders(t *testing.T, m xip.Media) {
	t.Helper()
	hash, err := base64.StdEncoding.DecodeString(m.ThumbHash)
	if err != nil || len(hash) < 5 {
		t.Errorf("thumbhash %q: not a base64 ThumbHash (%v)", m.ThumbHash, err)
	} else if got, want := placeholder.ThumbHashAspectRatio(hash), float64(m.Width)/float64(m.Height); math.Abs(got-want)/want > 0.2 && want < 8 && want > 1.0/8 {
		t.Errorf("thumbhash aspect ratio %.2f, media %dx%d (%.2f)", got, m.Width, m.Height, want)
	}
	if len(m.DominantColor) != 7 || m.DominantColor[0] != '#' || strings.Trim(m.DominantColor[1:], "0123456789abcdef") != "" {
		t.Errorf("dominantColor %q, want #rrggbb", m.DominantColor)
	}
}
