package imaging

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"slices"

	"github.com/buckket/go-blurhash"
)

// Fit says how a variant fills its box.
type Fit string

const (
	// FitCover crops to exactly Width x Height around the focal point.
	FitCover Fit = "cover"
	// FitInside bounds the width (and the height when set), keeping the
	// aspect ratio.
	FitInside Fit = "inside"
)

// Variant is one output size. Height is 0 for FitInside variants that
// bound the width only.
type Variant struct {
	Name          string
	Width, Height int
	Fit           Fit
}

// Options says what Process makes. The zero value makes nothing but the
// facts (size, BlurHash, focal point).
type Options struct {
	Variants []Variant
	// Quality of WebP and AVIF variants, 1-100. Default 80 when 0.
	Quality int
	// Formats of each variant: "webp" (default and always first when set
	// explicitly) and optionally "avif".
	Formats []string
	// WebPEffort is libwebp's CPU effort (method), 1-6, for every WebP
	// output. 0 (the default) chooses it per output (webpEffort): 5 for
	// opaque outputs up to smallWebPPixels, else 4 (libwebp's, libvips'
	// and sharp's default).
	WebPEffort int
	// KeepOriginal also returns the original, upright, sRGB and without
	// metadata, in the source format.
	KeepOriginal bool
	// MaxPixels refuses, before any decode, a source whose width x height x
	// frames is larger (ErrTooManyPixels). 0: no limit. The upload checks
	// the same from the header when it can; this catches what it could not.
	MaxPixels int64
	// MaxOriginalBytes refuses a re-encoded original larger than this; 0
	// means no limit. A small file can decode to a picture that no encoder
	// compresses back as well (a 449 KB PNG made a 400 MB original).
	MaxOriginalBytes int64
	// Animated keeps the animation of animated GIF and WebP sources: their
	// WebP variants are animated WebP of at most MaxFrames frames (later
	// frames are dropped); AVIF variants still show the first frame.
	// Default false: every variant shows the first frame, as for any still
	// source. Sources with an EXIF orientation other than 1 are treated as
	// stills.
	Animated bool
	// MaxFrames caps the frames kept when Animated. Default 50
	// (DefaultMaxFrames) when 0. Fewer are kept when MaxFrames frames at
	// the size decoded (the largest variant's) would hold more than
	// maxAnimationPixels: all frames are decoded into memory at once.
	MaxFrames int
}

// Defaults used for zero Options fields.
const (
	DefaultQuality   = 80
	DefaultMaxFrames = 50
)

// The WebP effort per output, when Options.WebPEffort is 0 (issue 14;
// docs/performance.md has the measurements). Effort 4 is what sharp uses:
// below it (effort 2, the default until then) files were 3-5% larger and
// butteraugli 4-5% worse on the 1200 and 1920 px variants, which hold most
// of the bytes; effort 3 costs as much as 4 for the same bytes. Effort 5
// (trellis quantisation of the final modes) saves another 3-5% for about
// 3% more time on an opaque image, but lowers SSIM by about 0.002, which
// the covers (64x64, 150x150: the avatar's) can spend and the large
// variants cannot. With alpha, effort 5 and 6 are slow (libwebp compresses
// the alpha plane harder: 50 ms more per 150 px cover of a photo with a
// soft-edged alpha), so alpha stays at 4. Effort 6 saves 2-3% more than 5
// for 20% more of an avatar job's time: not taken.
const (
	smallWebPPixels = 65_536 // 256x256
	smallWebPEffort = 5
	webPEffortAbove = 4
)

// webpEffort is the WebP effort for an output of pixels pixels (one
// frame): the configured one, or by size and alpha.
func webpEffort(configured, pixels int, alpha bool) int {
	switch {
	case configured > 0:
		return configured
	case pixels <= smallWebPPixels && !alpha:
		return smallWebPEffort
	}
	return webPEffortAbove
}

// maxAnimationPixels bounds the pixels of all decoded frames of an
// animation together (4 bytes each: 64 MB), whatever MaxFrames says: 50
// frames of a 1200x900 gallery variant would otherwise take 216 MB.
const maxAnimationPixels = 16_000_000

// originalQuality is used when an original must be re-encoded (rotated or
// colour converted): high, because the original is the master copy.
const originalQuality = 90

// blurSize is the width of the thumbnail the BlurHash and the focal point
// are computed from: enough for 4x3 components, tiny to compute.
const blurSize = 32

// Output is one encoded image.
type Output struct {
	Name   string // variant name, or "original"
	Format string // "webp", "avif", or the source format for the original
	Ext    string // file extension: as Format, except "jpg" for "jpeg"
	Width  int
	Height int // of one frame
	Frames int // 1, or the frame count of an animation
	Data   []byte
}

// Point is a position in an image, 0..1 from the top left.
type Point struct{ X, Y float64 }

// SourceInfo holds facts about the upload as received.
type SourceInfo struct {
	Format        string // jpeg png webp gif avif heic
	Bytes         int
	Width, Height int    // as stored, before orientation
	Orientation   int    // EXIF orientation 1-8 (1 when absent)
	HasAlpha      bool   // has an alpha channel
	Frames        int    // 1 unless animated
	ColorSpace    string // libvips interpretation: srgb, cmyk, b-w, rgb16, grey16...
}

// Result is everything Process learnt and made.
type Result struct {
	Source        SourceInfo
	Width, Height int    // after auto-orientation
	AspectRatio   string // Width:Height reduced by their GCD, e.g. "3:2"
	BlurHash      string // 4x3 components
	FocalPoint    Point  // the subject's centre (saliency); cover crops are centred on it
	// Variants holds one output per variant per format, variant-major:
	// for variants [md lg] and formats [webp avif]: md.webp, md.avif,
	// lg.webp, lg.avif.
	Variants []Output
	Original *Output // nil unless Options.KeepOriginal
}

// decodable lists the sniffed types Process accepts; HEIF ones also need
// Config.AllowHEIF.
var decodable = map[string]string{
	"image/jpeg": "jpeg",
	"image/png":  "png",
	"image/webp": "webp",
	"image/gif":  "gif",
	"image/avif": "avif",
	"image/heic": "heic",
}

// Process does the whole per-image work: decode once (shrunk on load to the
// largest size needed), orient, convert to 8-bit sRGB, drop metadata, then
// derive every variant, the BlurHash and the focal point from that one
// decoded image. Errors wrap ErrUndecodable when retrying cannot help.
//
// Variants never enlarge. An inside variant wider than the source keeps the
// source size. A cover variant larger than the source in either direction
// becomes the largest centred crop with the variant's aspect ratio at the
// source's resolution: a 150x150 cover of a 100x80 source is 80x80.
func Process(ctx context.Context, src []byte, opts Options) (*Result, error) {
	cfg, err := ready()
	if err != nil {
		return nil, err
	}
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, err
	}
	format, buf, h, err := openSource(cfg, src)
	if err != nil {
		return nil, err
	}
	defer buf.free()
	if err := checkPixels(h, opts.MaxPixels); err != nil {
		return nil, err
	}
	res := &Result{Source: SourceInfo{
		Format: format, Bytes: len(src), Width: h.Width, Height: h.Height,
		Orientation: max(1, h.Orientation), HasAlpha: h.HasAlpha, Frames: h.Pages,
		ColorSpace: h.Interpretation,
	}}
	res.Width, res.Height = h.Width, h.Height
	if res.Source.Orientation >= 5 { // 5-8 swap the axes
		res.Width, res.Height = h.Height, h.Width
	}
	res.AspectRatio = aspectRatio(res.Width, res.Height)

	// The original is kept losslessly (metadata segments cut out of the
	// source bytes) when its pixels need no change; otherwise it is
	// re-encoded from a full-size decode.
	var original []byte
	if opts.KeepOriginal && h.Orientation <= 1 && h.EightBit && !h.HasICC &&
		(h.Interpretation == "srgb" || h.Interpretation == "b-w") {
		original, _ = stripMetadata(format, src) // on failure: re-encode
	}

	plans := make([]plan, len(opts.Variants))
	scale := 0.0
	for i, v := range opts.Variants {
		plans[i] = planVariant(v, res.Width, res.Height)
		scale = max(scale, plans[i].scale)
	}
	if opts.KeepOriginal && original == nil {
		scale = 1
	}
	decodeWidth := min(res.Width, max(blurSize, int(math.Ceil(float64(res.Width)*scale))))
	colour := colourOf(h)
	pages := 1
	if opts.Animated && h.Pages > 1 && (format == "gif" || format == "webp") && h.Orientation <= 1 {
		frame := decodeWidth * max(1, int(math.Ceil(float64(res.Height)*float64(decodeWidth)/float64(res.Width))))
		pages = max(1, min(h.Pages, opts.MaxFrames, maxAnimationPixels/frame))
	}
	base, anim, err := decodeFrames(buf, decodeWidth, colour, pages)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUndecodable, err)
	}
	defer base.Close()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// An animation's frames are stacked in base; first is its first frame,
	// the whole-frame image the BlurHash and the focal point come from.
	animated := anim.Pages > 1
	first := base
	if animated {
		if first, err = base.Crop(0, 0, base.Width(), anim.PageHeight); err != nil {
			return nil, err
		}
		defer first.Close()
	}

	// Variants are cut largest first, each from the smallest whole-frame
	// image already made that holds enough pixels for it: the base, or a
	// larger inside variant kept in memory. Resizing costs about in
	// proportion to the input's area, so md from lg (800 px) costs a
	// quarter of md from the 1600 px base of a hero.
	//
	// The BlurHash and the focal point come from one thumbnail of the
	// smallest whole-frame image: the smallest inside variant at least
	// blurSize wide, else the base. Shrinking a 400 px variant to 32 px
	// costs about 4 ms, the 1920 px base of the hero preset about 30 ms.
	// Inside variants are cut first, so the focal point is known before
	// the first cover crop; covers are never kept to cut others from, so
	// the cascade loses nothing by it.
	res.FocalPoint = Point{X: 0.5, Y: 0.5}
	blurFrom := -1
	for i, v := range opts.Variants {
		if !animated && v.Fit == FitInside && plans[i].outW >= blurSize &&
			(blurFrom < 0 || plans[i].outW < plans[blurFrom].outW) {
			blurFrom = i
		}
	}
	if blurFrom < 0 {
		if err := summarise(first, res); err != nil {
			return nil, err
		}
	}
	order := make([]int, len(opts.Variants))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if ca, cb := opts.Variants[a].Fit == FitCover, opts.Variants[b].Fit == FitCover; ca != cb {
			if ca {
				return 1
			}
			return -1
		}
		return cmp.Compare(plans[b].scale, plans[a].scale)
	})
	frames := []vimage{} // inside variants kept in memory, besides base
	defer func() {
		for _, f := range frames {
			f.Close()
		}
	}()
	outs := make([][]Output, len(opts.Variants))
	// Variants that come out the same (a source smaller than several
	// inside variants, which never enlarge, or two covers of one size) are
	// encoded once.
	type same struct {
		p   plan
		fit Fit
	}
	made := map[same]int{}
	for _, i := range order {
		v, p := opts.Variants[i], plans[i]
		if j, ok := made[same{p, v.Fit}]; ok && !animated && i != blurFrom {
			for _, o := range outs[j] {
				o.Name = v.Name
				outs[i] = append(outs[i], o)
			}
			continue
		}
		made[same{p, v.Fit}] = i
		from := base
		needW := int(math.Ceil(float64(res.Width) * p.scale))
		needH := int(math.Ceil(float64(res.Height) * p.scale))
		for _, f := range frames {
			if f.Width() >= needW && f.Height() >= needH && f.Width() < from.Width() {
				from = f
			}
		}
		var img vimage
		if animated {
			img, err = cutFrames(base, anim, p, res)
		} else {
			img, err = cut(from, p, res)
		}
		if err != nil {
			return nil, fmt.Errorf("variant %s: %w", v.Name, err)
		}
		if !animated && v.Fit == FitInside && img.Width() < base.Width() {
			// Materialised, it is computed once for its encodings, the
			// BlurHash and the smaller variants.
			mem, err := img.Materialise()
			img.Close()
			if err != nil {
				return nil, fmt.Errorf("variant %s: %w", v.Name, err)
			}
			frames = append(frames, mem)
			img = mem
			img.ref()
		}
		if i == blurFrom {
			if err := summarise(img, res); err != nil {
				img.Close()
				return nil, err
			}
		}
		for _, f := range opts.Formats {
			if err := ctx.Err(); err != nil {
				img.Close()
				return nil, err
			}
			data, frames, err := encodeVariant(img, anim, f, opts)
			if err != nil {
				img.Close()
				return nil, fmt.Errorf("variant %s: %w", v.Name, err)
			}
			outs[i] = append(outs[i], Output{
				Name: v.Name, Format: f, Ext: f, Width: img.Width(), Height: img.Height() / anim.Pages,
				Frames: frames, Data: data,
			})
		}
		img.Close()
	}
	for _, o := range outs {
		res.Variants = append(res.Variants, o...)
	}

	if opts.KeepOriginal {
		out := Output{Name: "original", Format: format, Ext: extension(format),
			Width: res.Width, Height: res.Height, Frames: h.Pages, Data: original}
		if out.Data == nil {
			img := base
			if animated {
				if img, err = base.Animate(anim); err != nil {
					return nil, fmt.Errorf("original: %w", err)
				}
				defer img.Close()
			}
			limit := opts.MaxOriginalBytes
			if limit <= 0 {
				limit = math.MaxInt64
			}
			out.Data, err = img.EncodeWithin(format, originalQuality, webpEffort(opts.WebPEffort, base.Width()*anim.PageHeight, img.Bands()%2 == 0), limit)
			if errors.Is(err, errEncodingTooLarge) {
				return nil, fmt.Errorf("%w: over %d bytes", ErrOriginalTooLarge, opts.MaxOriginalBytes)
			}
			if err != nil {
				return nil, fmt.Errorf("original: %w", err)
			}
			out.Width, out.Height, out.Frames = base.Width(), anim.PageHeight, anim.Pages
		}
		res.Original = &out
	}
	return res, nil
}

func (o Options) withDefaults() (Options, error) {
	if o.Quality == 0 {
		o.Quality = DefaultQuality
	}
	if o.Quality < 1 || o.Quality > 100 {
		return o, fmt.Errorf("imaging: quality %d not in 1-100", o.Quality)
	}
	if o.WebPEffort < 0 || o.WebPEffort > 6 {
		return o, fmt.Errorf("imaging: WebP effort %d not in 0-6", o.WebPEffort)
	}
	if o.MaxFrames == 0 {
		o.MaxFrames = DefaultMaxFrames
	}
	if o.MaxFrames < 0 {
		return o, fmt.Errorf("imaging: MaxFrames %d is negative", o.MaxFrames)
	}
	if len(o.Formats) == 0 {
		o.Formats = []string{"webp"}
	}
	for _, f := range o.Formats {
		if f != "webp" && f != "avif" {
			return o, fmt.Errorf("imaging: unknown output format %q (want webp or avif)", f)
		}
	}
	for _, v := range o.Variants {
		if v.Width <= 0 || v.Height < 0 || (v.Fit == FitCover && v.Height == 0) {
			return o, fmt.Errorf("imaging: variant %q has invalid size %dx%d", v.Name, v.Width, v.Height)
		}
		if v.Fit != FitCover && v.Fit != FitInside {
			return o, fmt.Errorf("imaging: variant %q has unknown fit %q", v.Name, v.Fit)
		}
	}
	return o, nil
}

func extension(format string) string {
	if format == "jpeg" {
		return "jpg"
	}
	return format
}

// plan says how a variant is cut from the oriented source: keep a region
// of regionW x regionH source pixels (around the focal point), scaled by
// scale (<= 1) to outW x outH.
type plan struct {
	scale            float64
	regionW, regionH float64
	outW, outH       int
}

func planVariant(v Variant, w, h int) plan {
	fw, fh := float64(w), float64(h)
	if v.Fit == FitInside {
		s := min(1, float64(v.Width)/fw)
		if v.Height > 0 {
			s = min(s, float64(v.Height)/fh)
		}
		return plan{scale: s, regionW: fw, regionH: fh,
			outW: max(1, int(math.Round(fw*s))), outH: max(1, int(math.Round(fh*s)))}
	}
	vw, vh := float64(v.Width), float64(v.Height)
	if s := max(vw/fw, vh/fh); s <= 1 {
		return plan{scale: s, regionW: vw / s, regionH: vh / s, outW: v.Width, outH: v.Height}
	}
	// The box is bigger than the source: never enlarge, keep the largest
	// region with the box's aspect ratio instead.
	c := min(fw/vw, fh/vh)
	ow, oh := max(1, int(vw*c)), max(1, int(vh*c))
	return plan{scale: 1, regionW: float64(ow), regionH: float64(oh), outW: ow, outH: oh}
}

// cut makes one variant from the decoded base, which is the oriented
// source scaled by base.Width()/res.Width.
func cut(base vimage, p plan, res *Result) (vimage, error) {
	bw, bh := base.Width(), base.Height()
	sx, sy := float64(bw)/float64(res.Width), float64(bh)/float64(res.Height)
	rw := clamp(int(math.Round(p.regionW*sx)), 1, bw)
	rh := clamp(int(math.Round(p.regionH*sy)), 1, bh)
	left := clamp(int(math.Round(res.FocalPoint.X*float64(bw)-float64(rw)/2)), 0, bw-rw)
	top := clamp(int(math.Round(res.FocalPoint.Y*float64(bh)-float64(rh)/2)), 0, bh-rh)

	img, err := base.Crop(left, top, rw, rh)
	if err != nil || (rw == p.outW && rh == p.outH) {
		return img, err
	}
	defer img.Close()
	return img.Resize(p.outW, p.outH)
}

// cutFrames cuts variant p from every frame of the animation stacked in
// base, and stacks the results as an animation with a's timing.
func cutFrames(base vimage, a animation, p plan, res *Result) (vimage, error) {
	frames := make([]vimage, 0, a.Pages)
	defer func() {
		for _, f := range frames {
			f.Close()
		}
	}()
	for i := range a.Pages {
		page, err := base.Crop(0, i*a.PageHeight, base.Width(), a.PageHeight)
		if err != nil {
			return vimage{}, err
		}
		f, err := cut(page, p, res)
		page.Close() // f holds its own reference
		if err != nil {
			return vimage{}, err
		}
		frames = append(frames, f)
	}
	stack, err := joinFrames(frames)
	if err != nil {
		return vimage{}, err
	}
	defer stack.Close()
	out := a
	out.PageHeight = frames[0].Height()
	return stack.Animate(out)
}

// encodeVariant encodes one variant in format f: an animation as animated
// WebP, or as its first frame in AVIF. It returns the frames written.
func encodeVariant(img vimage, a animation, f string, opts Options) ([]byte, int, error) {
	effort := webpEffort(opts.WebPEffort, img.Width()*img.Height()/max(1, a.Pages), img.Bands()%2 == 0)
	if a.Pages <= 1 || f == "webp" {
		data, err := img.Encode(f, opts.Quality, effort)
		return data, max(1, a.Pages), err
	}
	still, err := img.Crop(0, 0, img.Width(), img.Height()/a.Pages)
	if err != nil {
		return nil, 0, err
	}
	defer still.Close()
	data, err := still.Encode(f, opts.Quality, effort)
	return data, 1, err
}

// summarise fills the BlurHash and the focal point from one tiny
// thumbnail (blurSize wide) of img, a whole-frame (uncropped) image of the
// oriented source. See focal.go for the focal point.
func summarise(img vimage, res *Result) error {
	w := min(blurSize, img.Width())
	h := max(1, int(math.Round(float64(img.Height())*float64(w)/float64(img.Width()))))
	small, err := img.Resize(w, h)
	if err != nil {
		return err
	}
	defer small.Close()
	px, err := small.Pixels()
	if err != nil {
		return err
	}
	opaque := onWhite(px, w, h, small.Bands())
	res.FocalPoint = focalPoint(opaque)
	res.BlurHash, err = blurhash.Encode(4, 3, opaque)
	if err != nil {
		return fmt.Errorf("blurhash: %w", err)
	}
	return nil
}

// onWhite converts raw 8-bit sRGB(A) pixels to an opaque image, blending
// transparent pixels on white so that the BlurHash shows what a page would.
func onWhite(px []byte, w, h, bands int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range w * h {
		s, d := px[i*bands:], img.Pix[i*4:]
		a := 255
		if bands == 4 {
			a = int(s[3])
		}
		for c := range 3 {
			d[c] = byte((int(s[c])*a + 255*(255-a) + 127) / 255)
		}
		d[3] = 255
	}
	return img
}

func aspectRatio(w, h int) string {
	g := gcd(w, h)
	if g == 0 {
		return "0:0"
	}
	return fmt.Sprintf("%d:%d", w/g, h/g)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func clamp(v, lo, hi int) int { return max(lo, min(v, hi)) }

// openSource checks that src is a type this process decodes and reads its
// header into C memory (the caller frees buf). Errors wrap ErrUndecodable.
func openSource(cfg Config, src []byte) (format string, buf cBuffer, h vipsHeader, err error) {
	format, ok := decodable[Sniff(src)]
	if !ok {
		return "", buf, h, fmt.Errorf("%w: unsupported type %s", ErrUndecodable, Sniff(src))
	}
	if (format == "avif" || format == "heic") && !cfg.AllowHEIF {
		return "", buf, h, fmt.Errorf("%w: %s input is not enabled", ErrUndecodable, format)
	}
	guarded, err := guardSource(format, src)
	if err != nil {
		return "", buf, h, err
	}
	buf = newCBuffer(guarded)
	if h, err = readVipsHeader(buf); err != nil {
		buf.free()
		return "", cBuffer{}, h, fmt.Errorf("%w: %v", ErrUndecodable, err)
	}
	return format, buf, h, nil
}

// colourOf is how a source gets to sRGB: through its CMYK or embedded
// profile when it has one.
func colourOf(h vipsHeader) colourPath {
	switch {
	case h.Interpretation == "cmyk":
		return cmyk
	case h.HasICC:
		return iccProfile
	}
	return plainRGB
}

// checkPixels refuses a source over maxPixels (width x height x frames)
// before anything is decoded; 0 means no limit.
func checkPixels(h vipsHeader, maxPixels int64) error {
	frames := int64(max(h.Pages, 1))
	if maxPixels > 0 && int64(h.Width)*int64(h.Height)*frames > maxPixels {
		return fmt.Errorf("%w: %dx%d x %d frames", ErrTooManyPixels, h.Width, h.Height, frames)
	}
	return nil
}
