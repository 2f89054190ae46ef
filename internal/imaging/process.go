package imaging

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"slices"
	"sync"

	"github.com/buckket/go-blurhash"

	"github.com/ximagepipeline/ximagepipeline/internal/imagefile"
	"github.com/ximagepipeline/ximagepipeline/internal/phash"
	"github.com/ximagepipeline/ximagepipeline/internal/placeholder"
	"github.com/ximagepipeline/ximagepipeline/internal/vips"
	"github.com/ximagepipeline/ximagepipeline/media"
)

// maxAnimationPixels bounds the pixels of all decoded frames of an
// animation together (4 bytes each: 64 MB), whatever the source type's
// MaxFrames says: 50 frames of a 1200x900 gallery variant would otherwise
// take 216 MB.
const maxAnimationPixels = 16_000_000

// originalQuality is used when an original must be re-encoded (rotated or
// colour converted): high, because the original is the master copy.
const originalQuality = 90

// blurSize is the width of the thumbnail the BlurHash, the ThumbHash, the
// dominant colour and the focal point are computed from: enough for 4x3
// components, tiny to compute.
const blurSize = 32

// hashSize is the width of the thumbnail the perceptual hash is computed
// from: it keeps 8 frequencies a side of a 32x32 grey square, which a
// 32 px panorama (32x8) cannot give (internal/phash).
const hashSize = 64

// Output is one encoded image.
type Output struct {
	Name   string // variant name, or "original"
	Format string // "webp", "avif", or the source format for the original
	Ext    string // file extension: the format's (media.Format.Ext)
	Width  int
	Height int // of one frame
	Frames int // 1, or the frame count of an animation
	Data   []byte
}

// Result is everything Process learnt and made.
type Result struct {
	Source        media.SourceFacts
	Width, Height int         // after auto-orientation
	AspectRatio   string      // Width:Height reduced by their GCD, e.g. "3:2"
	BlurHash      string      // 4x3 components
	ThumbHash     []byte      // internal/placeholder, with alpha
	DominantColor string      // "#rrggbb" of the largest group of like colours
	PHash         uint64      // 64-bit perceptual hash (internal/phash); 0 for a flat image
	FocalPoint    media.Point // the subject's centre (saliency); cover crops are centred on it
	// Variants holds one output per variant per format, variant-major:
	// for variants [md lg] and formats [webp avif]: md.webp, md.avif,
	// lg.webp, lg.avif.
	Variants []Output
	Original *Output // nil unless the source type stores the original
}

// Process makes what source type st asks of src, in one decode: the
// variants of st (looked up in the processor's variant table) in each of
// its formats, the original when st stores it, and the facts. Errors wrap
// ErrUndecodable when retrying cannot help, ErrTooManyPixels and
// ErrOriginalTooLarge over the processor's limits; an invalid source type
// is a plain error.
//
// It runs as steps, and ctx is checked between them (and between
// encodings, the longest part): a deadline cannot stop one libvips call,
// only the next one. Variants never enlarge (see planVariant).
func (p *Processor) Process(ctx context.Context, src []byte, st media.SourceType) (*Result, error) {
	st = st.WithDefaults()
	if err := st.Validate(p.cfg.Variants); err != nil {
		return nil, fmt.Errorf("imaging: source type %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := p.open(src)
	if err != nil {
		return nil, err
	}
	defer s.close()
	p.busy.Add(1)
	defer p.busy.Add(-1)
	j := &job{p: p, source: s, src: src, st: st, want: st.Resolve(p.cfg.Variants)}
	defer j.close()
	for _, step := range []func(context.Context) error{
		j.plan,     // every size, from the header
		j.decode,   // once, shrunk on load to the largest size needed
		j.insides,  // the inside variants, each cut from the smallest image big enough
		j.facts,    // placeholders, hash and focal point, from the smallest whole image
		j.covers,   // the cover variants, cropped around the focal point
		j.original, // the source's bytes without metadata, or re-encoded
		j.collect,  // the variants' encodings, once all are done
	} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := j.failed(); err != nil {
			return nil, err
		}
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return j.res, nil
}

// job is one run of Process: what each step learns for the next ones.
type job struct {
	p *Processor
	*source
	src  []byte
	st   media.SourceType // defaulted
	want []media.Variant  // st's variants, resolved
	res  *Result

	// plan
	plans       []plan // by variant
	order       []int  // the variants in the order they are made
	decodeWidth int
	pages       int    // frames to decode: 1 unless the animation is kept
	lossless    []byte // the original with its metadata cut out, when its pixels need no change

	// decode
	base     vips.Image // the oriented source scaled to decodeWidth, all frames stacked
	anim     vips.Animation
	animated bool       // anim.Pages > 1
	first    vips.Image // base's first frame (base itself for a still)

	// insides
	kept      []vips.Image // inside variants of a still kept in memory, besides base
	blurFrom  int          // the variant the facts come from; -1: first
	blurImage vips.Image   // its image

	owned []vips.Image    // closed by close
	outs  [][]Output      // by variant, then format; filled by the encodings
	made  map[madeKey]int // the variant each plan was first made for
	same  map[int]int     // variant -> the one made for it: collect copies its outputs

	// encodings handed to goroutines of their own (encode)
	encoding sync.WaitGroup
	mu       sync.Mutex
	err      error // the first encoding's error
}

// own makes the job close img when it ends.
func (j *job) own(img vips.Image) vips.Image {
	j.owned = append(j.owned, img)
	return img
}

func (j *job) close() {
	j.encoding.Wait() // they read the images
	for _, img := range slices.Backward(j.owned) {
		img.Close()
	}
}

// plan works out every variant's size from the upright size in the
// header, and the decode size: the largest variant's, or the full size
// when the original must be re-encoded. The original is kept losslessly
// (metadata segments cut out of the source bytes) when its pixels need no
// change: upright, 8-bit sRGB or grey, no ICC profile.
func (j *job) plan(context.Context) error {
	h := j.h
	j.res = &Result{
		Source: media.SourceFacts{
			Format: j.format.Name, Bytes: int64(len(j.src)), Width: h.Width, Height: h.Height,
			Orientation: max(1, h.Orientation), HasAlpha: h.HasAlpha, Frames: h.Pages,
			ColorSpace: h.Interpretation,
		},
		Width: h.Width, Height: h.Height, FocalPoint: media.Centre,
	}
	if j.res.Source.Orientation >= 5 { // 5-8 swap the axes
		j.res.Width, j.res.Height = h.Height, h.Width
	}
	j.res.AspectRatio = aspectRatio(j.res.Width, j.res.Height)

	if j.st.StoreOriginal && h.Orientation <= 1 && h.EightBit && !h.HasICC &&
		(h.Interpretation == "srgb" || h.Interpretation == "b-w") {
		j.lossless, _ = imagefile.StripMetadata(j.format.Name, j.src) // on failure: re-encode
	}
	j.plans = make([]plan, len(j.want))
	scale := 0.0
	for i, v := range j.want {
		j.plans[i] = planVariant(v.VariantSpec, j.res.Width, j.res.Height)
		scale = max(scale, j.plans[i].scale)
	}
	if j.st.StoreOriginal && j.lossless == nil {
		scale = 1
	}
	w, ht := j.res.Width, j.res.Height
	j.decodeWidth = min(w, max(blurSize, int(math.Ceil(float64(w)*scale))))
	j.pages = 1
	if j.st.Animated && h.Pages > 1 && (j.format.Name == "gif" || j.format.Name == "webp") && h.Orientation <= 1 {
		frame := j.decodeWidth * max(1, int(math.Ceil(float64(ht)*float64(j.decodeWidth)/float64(w))))
		j.pages = max(1, min(h.Pages, j.st.FrameLimit(), maxAnimationPixels/frame))
	}

	// Largest first, so that each inside variant can be cut from the one
	// before (the insides and covers steps each take their own fit).
	j.order = make([]int, len(j.want))
	for i := range j.order {
		j.order[i] = i
	}
	slices.SortStableFunc(j.order, func(a, b int) int { return cmp.Compare(j.plans[b].scale, j.plans[a].scale) })
	return nil
}

// decode decodes the source once, shrunk on load to the planned width,
// upright, in 8-bit sRGB, without metadata, into memory: a truncated file
// fails here. An animation's frames are stacked in base.
func (j *job) decode(context.Context) error {
	base, anim, err := vips.DecodeFrames(j.buf, j.format.Name, j.decodeWidth, vips.ColourOf(j.h), j.pages)
	if err != nil {
		return imagefile.Undecodable("%v", err)
	}
	j.base, j.anim, j.animated = j.own(base), anim, anim.Pages > 1
	j.first = base
	if j.animated {
		first, err := base.Crop(0, 0, base.Width(), anim.PageHeight)
		if err != nil {
			return err
		}
		j.first = j.own(first)
	}
	return nil
}

// insides makes and encodes the inside variants, largest first: a still's
// each from the smallest image already made that holds enough pixels for
// it (the base, or a larger inside variant kept in memory), an
// animation's frame by frame. Resizing costs about in proportion to the
// input's area, so md from lg (800 px) costs a quarter of md from the
// 1600 px base of a hero. They come before the covers, which need the
// focal point, and the facts, which come from one of them: the smallest
// inside variant at least blurSize wide of a still (else the first frame).
// Shrinking a 400 px variant to 32 px costs about 4 ms, the 1920 px base
// of the hero source type about 30 ms.
func (j *job) insides(ctx context.Context) error {
	j.blurFrom = -1
	for i, v := range j.want {
		if !j.animated && v.Fit == media.FitInside && j.plans[i].outW >= blurSize &&
			(j.blurFrom < 0 || j.plans[i].outW < j.plans[j.blurFrom].outW) {
			j.blurFrom = i
		}
	}
	return j.encodeVariants(ctx, media.FitInside)
}

// facts computes the placeholders (BlurHash, ThumbHash, dominant colour),
// the perceptual hash and the focal point (see focal.go) from the image
// insides picked.
func (j *job) facts(context.Context) error {
	from := j.first
	if j.blurFrom >= 0 {
		from = j.blurImage
	}
	return summarise(from, j.res)
}

// summarise fills the facts that come from a tiny thumbnail of img, a
// whole-frame (uncropped) image of the oriented source: the BlurHash and
// the focal point (on white, as a page shows it), the ThumbHash and the
// dominant colour (with their alpha), from one blurSize wide; the
// perceptual hash from one hashSize wide.
func summarise(img vips.Image, res *Result) error {
	// A large image (the decoded base of a covers-only source type that
	// keeps a re-encoded original, say) is read once, into an image both
	// thumbnails come from, rather than once for each: 70 ms of a 5 MP base.
	// The usual source, a 400 px variant, is read twice: under a ms.
	if img.Width() > 1024 {
		h := max(1, int(math.Round(float64(img.Height())*4*hashSize/float64(img.Width()))))
		small, err := img.Resize(4*hashSize, h)
		if err != nil {
			return err
		}
		defer small.Close()
		img = small
	}
	px, w, h, bands, err := thumbnail(img, blurSize)
	if err != nil {
		return err
	}
	opaque := onWhite(px, w, h, bands)
	res.FocalPoint = focalPoint(opaque)
	res.BlurHash, err = blurhash.Encode(4, 3, opaque)
	if err != nil {
		return fmt.Errorf("blurhash: %w", err)
	}
	withAlpha := nrgba(px, w, h, bands)
	res.ThumbHash = placeholder.ThumbHash(withAlpha)
	res.DominantColor = placeholder.Hex(placeholder.DominantColour(withAlpha))
	if px, w, h, bands, err = thumbnail(img, hashSize); err != nil {
		return err
	}
	res.PHash = phash.Hash(nrgba(px, w, h, bands))
	return nil
}

// thumbnail resizes img to width (never enlarging) and returns its 8-bit
// sRGB(A) pixels.
func thumbnail(img vips.Image, width int) (px []byte, w, h, bands int, err error) {
	w = min(width, img.Width())
	h = max(1, int(math.Round(float64(img.Height())*float64(w)/float64(img.Width()))))
	small, err := img.Resize(w, h)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	defer small.Close()
	px, err = small.Pixels()
	return px, w, h, small.Bands(), err
}

// nrgba wraps raw 8-bit sRGB(A) pixels as an image, opaque without alpha.
func nrgba(px []byte, w, h, bands int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range w * h {
		s, d := px[i*bands:], img.Pix[i*4:]
		copy(d[:3], s[:3])
		d[3] = 255
		if bands == 4 {
			d[3] = s[3]
		}
	}
	return img
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

// covers makes and encodes the cover variants, cropped around the focal
// point, each from the smallest image kept that is big enough. Covers are
// never kept to cut others from: the inside variants, made first, lose
// nothing by it.
func (j *job) covers(ctx context.Context) error {
	return j.encodeVariants(ctx, media.FitCover)
}

// collect waits for the encodings and lists the variants' outputs; a
// variant that came out the same as another gets its encodings.
func (j *job) collect(context.Context) error {
	j.encoding.Wait()
	if err := j.failed(); err != nil {
		return err
	}
	for i, same := range j.same {
		for _, o := range j.outs[same] {
			o.Name = j.want[i].Name
			j.outs[i] = append(j.outs[i], o)
		}
	}
	for _, o := range j.outs {
		j.res.Variants = append(j.res.Variants, o...)
	}
	return nil
}

// encode runs one encoding of the job: on a goroutine of its own while
// the processor has fewer than Threads goroutines at work (a job alone
// spreads over idle CPUs), else here. The first error is the job's
// (failed), seen by the next step.
func (j *job) encode(fn func() error) {
	for {
		n := j.p.busy.Load()
		if n >= int64(j.p.cfg.Threads) {
			j.fail(fn())
			return
		}
		if j.p.busy.CompareAndSwap(n, n+1) {
			break
		}
	}
	j.p.handed.Add(1)
	j.encoding.Add(1)
	go func() {
		defer j.encoding.Done()
		defer j.p.busy.Add(-1)
		j.fail(fn())
	}()
}

func (j *job) fail(err error) {
	if err == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err == nil {
		j.err = err
	}
}

// failed is the first error of the job's encodings so far.
func (j *job) failed() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// encodeVariants makes the variants of one fit, in the planned order, and
// encodes each in every format of the source type.
func (j *job) encodeVariants(ctx context.Context, fit media.Fit) error {
	if j.outs == nil {
		j.outs = make([][]Output, len(j.want))
	}
	for _, i := range j.order {
		if j.want[i].Fit != fit {
			continue
		}
		// Variants that come out the same (a source smaller than several
		// inside variants, which never enlarge, or two covers of one size)
		// are encoded once.
		if same, ok := j.made[madeKey{j.plans[i], fit}]; ok && !j.animated && i != j.blurFrom {
			if j.same == nil {
				j.same = map[int]int{}
			}
			j.same[i] = same
			continue
		}
		if err := j.failed(); err != nil {
			return err
		}
		if err := j.variant(ctx, i); err != nil {
			return err
		}
		if j.made == nil {
			j.made = map[madeKey]int{}
		}
		j.made[madeKey{j.plans[i], fit}] = i
	}
	return nil
}

// madeKey tells variants that come out the same: one plan, one fit.
type madeKey struct {
	plan plan
	fit  media.Fit
}

// variant makes variant i and encodes it in every format of the source
// type (encode: maybe on other goroutines, into j.outs[i]).
func (j *job) variant(ctx context.Context, i int) error {
	v := j.want[i]
	img, err := j.cut(i)
	if err != nil {
		return fmt.Errorf("variant %s: %w", v.Name, err)
	}
	if slices.Contains(j.kept, img) || i == j.blurFrom {
		j.own(img) // kept for the next variants or the facts
		if i == j.blurFrom {
			j.blurImage = img
		}
	} else {
		defer img.Close() // each encoding holds its own reference
	}
	j.outs[i] = make([]Output, len(j.st.Formats))
	for k, f := range j.st.Formats {
		if err := ctx.Err(); err != nil {
			return err
		}
		img.Ref()
		j.encode(func() error {
			defer img.Close()
			if err := ctx.Err(); err != nil {
				return err
			}
			data, frames, err := encodeVariant(img, j.anim, f, j.st.Quality, j.effort(img))
			if err != nil {
				return fmt.Errorf("variant %s: %w", v.Name, err)
			}
			j.outs[i][k] = Output{
				Name: v.Name, Format: f, Ext: extension(f), Width: img.Width(), Height: img.Height() / j.anim.Pages,
				Frames: frames, Data: data,
			}
			return nil
		})
	}
	return nil
}

// cut makes variant i's image: an animation's frame by frame from the
// base; a still's from the smallest image kept that is big enough. An
// inside variant smaller than the base is kept in memory (materialised:
// computed once for its encodings, the facts and the smaller variants).
func (j *job) cut(i int) (vips.Image, error) {
	v, p := j.want[i], j.plans[i]
	if j.animated {
		return cutFrames(j.base, j.anim, p, j.res)
	}
	from := j.base
	needW := int(math.Ceil(float64(j.res.Width) * p.scale))
	needH := int(math.Ceil(float64(j.res.Height) * p.scale))
	for _, f := range j.kept {
		if f.Width() >= needW && f.Height() >= needH && f.Width() < from.Width() {
			from = f
		}
	}
	img, err := cut(from, p, j.res)
	if err != nil || v.Fit != media.FitInside || img.Width() >= j.base.Width() {
		return img, err
	}
	mem, err := img.Materialise()
	img.Close()
	if err != nil {
		return vips.Image{}, err
	}
	j.kept = append(j.kept, mem)
	return mem, nil
}

// original adds the original when the source type stores it: the source's
// bytes without their metadata when plan could keep them, else the decoded
// base (full size) re-encoded in the source's format, within
// MaxOriginalBytes.
func (j *job) original(context.Context) error {
	if !j.st.StoreOriginal {
		return nil
	}
	out := Output{Name: "original", Format: j.format.Name, Ext: j.format.Ext,
		Width: j.res.Width, Height: j.res.Height, Frames: j.h.Pages, Data: j.lossless}
	if out.Data == nil {
		img := j.base
		if j.animated {
			var err error
			if img, err = j.base.Animate(j.anim); err != nil {
				return fmt.Errorf("original: %w", err)
			}
			defer img.Close()
		}
		limit := j.p.cfg.MaxOriginalBytes
		if limit <= 0 {
			limit = math.MaxInt64
		}
		var err error
		out.Data, err = img.EncodeWithin(j.format.Name, originalQuality, j.effort(img), limit)
		if errors.Is(err, vips.ErrEncodingTooLarge) {
			return fmt.Errorf("%w: over %d bytes", ErrOriginalTooLarge, j.p.cfg.MaxOriginalBytes)
		}
		if err != nil {
			return fmt.Errorf("original: %w", err)
		}
		out.Width, out.Height, out.Frames = j.base.Width(), j.anim.PageHeight, j.anim.Pages
	}
	j.res.Original = &out
	return nil
}

// effort is the WebP effort for img (one frame's size, its alpha).
func (j *job) effort(img vips.Image) int {
	return webpEffort(j.p.cfg.WebPEffort, img.Width()*img.Height()/max(1, j.anim.Pages), img.Bands()%2 == 0)
}

// extension is the file extension of a format's outputs.
func extension(format string) string {
	f, _ := media.FormatNamed(format)
	return f.Ext
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
