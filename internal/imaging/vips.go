package imaging

// This file is the only one that talks to libvips. It uses cgo directly
// rather than govips v2.16 because govips cannot pass fail_on=truncated to
// the loader, cannot materialise an image in memory (vips_image_copy_memory,
// needed to decode once and derive every variant from one buffer), cannot
// block loaders, and its images cannot be shared with a second binding.

/*
#cgo pkg-config: vips
#cgo CFLAGS: -O3
#cgo LDFLAGS: -lm
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>
#include "reduce.h"

static void quiet_log(const gchar *domain, GLogLevelFlags level,
	const gchar *message, gpointer data) {
}

static int start_vips(int concurrency, int allow_heif) {
	if (VIPS_INIT("ximagepipeline"))
		return -1;
	g_log_set_handler("VIPS", G_LOG_LEVEL_MASK, quiet_log, NULL);
	vips_concurrency_set(concurrency);
	vips_cache_set_max(0);
	vips_cache_set_max_mem(0);
	vips_cache_set_max_files(0);

	vips_block_untrusted_set(TRUE);
	vips_operation_block_set("VipsForeignLoad", TRUE);
	vips_operation_block_set("VipsForeignLoadJpeg", FALSE);
	vips_operation_block_set("VipsForeignLoadPng", FALSE);
	vips_operation_block_set("VipsForeignLoadWebp", FALSE);
	vips_operation_block_set("VipsForeignLoadNsgif", FALSE);
	if (allow_heif)
		vips_operation_block_set("VipsForeignLoadHeif", FALSE);
	return 0;
}

typedef struct {
	int width, height, bands, pages, orientation, has_icc, has_alpha;
	int band_format;
	const char *interpretation;
} header_info;

static int read_header(const void *buf, size_t len, header_info *h) {
	VipsImage *im = vips_image_new_from_buffer(buf, len, "", NULL);
	if (!im)
		return -1;
	h->width = vips_image_get_width(im);
	h->height = vips_image_get_height(im);
	h->bands = vips_image_get_bands(im);
	h->band_format = vips_image_get_format(im);
	h->pages = vips_image_get_n_pages(im);
	h->orientation = 1;
	if (vips_image_get_typeof(im, VIPS_META_ORIENTATION))
		vips_image_get_int(im, VIPS_META_ORIENTATION, &h->orientation);
	h->has_icc = vips_image_get_typeof(im, VIPS_META_ICC_NAME) != 0;
	h->has_alpha = vips_image_hasalpha(im);
	h->interpretation = vips_enum_nick(VIPS_TYPE_INTERPRETATION,
		vips_image_get_interpretation(im));
	g_object_unref(im);
	return 0;
}

// thumbnail decodes, shrinks, orients and (to_srgb) converts through the
// embedded profile. pages > 1 loads that many frames of an animation as
// one tall image of pages frames (page-height set), each shrunk alike.
static int thumbnail(const void *buf, size_t len, int width, int height,
	int to_srgb, int pages, VipsImage **out) {
	char options[64] = "fail_on=truncated";
	if (pages > 1)
		g_snprintf(options, sizeof(options), "fail_on=truncated,n=%d", pages);
	if (to_srgb)
		return vips_thumbnail_buffer((void *) buf, len, out, width,
			"height", height, "size", VIPS_SIZE_DOWN,
			"fail_on", VIPS_FAIL_ON_TRUNCATED, "option_string", options,
			"export_profile", "srgb", NULL);
	return vips_thumbnail_buffer((void *) buf, len, out, width,
		"height", height, "size", VIPS_SIZE_DOWN,
		"fail_on", VIPS_FAIL_ON_TRUNCATED, "option_string", options, NULL);
}

typedef struct {
	int page_height, loop, n_delays;
	int *delays; // owned by the image it was read from
} anim_info;

// read_anim reads the animation fields strip_copy removes.
static void read_anim(VipsImage *in, anim_info *a) {
	a->page_height = vips_image_get_page_height(in);
	a->loop = 0;
	if (vips_image_get_typeof(in, "loop"))
		vips_image_get_int(in, "loop", &a->loop);
	a->delays = NULL;
	a->n_delays = 0;
	if (vips_image_get_typeof(in, "delay"))
		vips_image_get_array_int(in, "delay", &a->delays, &a->n_delays);
}

// set_anim returns a copy of in, n frames of page_height stacked, that
// savers write as an animation.
static int set_anim(VipsImage *in, VipsImage **out, int page_height,
	int *delays, int n, int loop) {
	if (vips_copy(in, out, NULL))
		return -1;
	vips_image_set_int(*out, VIPS_META_PAGE_HEIGHT, page_height);
	vips_image_set_array_int(*out, "delay", delays, n);
	vips_image_set_int(*out, "loop", loop);
	return 0;
}

static int join_frames(VipsImage **in, int n, VipsImage **out) {
	return vips_arrayjoin(in, out, n, "across", 1, NULL);
}

// SHRINK_LEFT is the reduction left to lanczos after shrink-on-load, at
// least, as thumbnail leaves it: libjpeg's block shrink sharpens, and
// shrinking the 2725 px photo by 2 on load for its 1200 px variant cost
// 0.023 of SSIM (0.917 against 0.940, sharp 0.940).
#define SHRINK_LEFT 2

// load_cmyk loads a CMYK image upright in sRGB, through its embedded
// profile (or libvips' CMYK profile when it has none), shrunk on load by
// load_jpeg's rule towards width (in upright terms): decoded whole, a 100
// MP CMYK JPEG went through a temporary file and took over a minute for an
// avatar. libvips 8.14's thumbnail rejects some embedded CMYK profiles
// ("profile incompatible with image") and falls back silently, shifting
// colours, hence this path.
static int load_cmyk(const void *buf, size_t len, int width, VipsImage **out) {
	int shrink = 1;
	const char *loader = vips_foreign_find_load_buffer(buf, len);
	const int jpeg = loader && strcmp(loader, "VipsForeignLoadJpegBuffer") == 0;
	if (jpeg) {
		VipsImage *head;
		if (vips_jpegload_buffer((void *) buf, len, &head, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL))
			return -1;
		const int ow = vips_image_get_orientation_swap(head) ? head->Ysize : head->Xsize;
		g_object_unref(head);
		const double factor = (double) ow / VIPS_MIN(width, ow);
		for (int s = 8; s > 1; s /= 2)
			if (factor >= SHRINK_LEFT * s) {
				shrink = s;
				break;
			}
	}
	VipsImage *t[2] = {NULL, NULL};
	if (jpeg)
		vips_jpegload_buffer((void *) buf, len, &t[0], "shrink", shrink, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
	else
		t[0] = vips_image_new_from_buffer(buf, len, "fail_on=truncated", NULL);
	if (!t[0])
		return -1;
	int r = vips_autorot(t[0], &t[1], NULL) ||
		vips_icc_transform(t[1], out, "srgb", "embedded", TRUE,
			"input_profile", "cmyk", NULL);
	for (int i = 0; i < 2; i++)
		if (t[i])
			g_object_unref(t[i]);
	return r;
}

// to_srgb8 converts any interpretation and depth (grey16, rgb16, b-w, ...)
// to 8-bit sRGB, keeping alpha.
static int to_srgb8(VipsImage *in, VipsImage **out) {
	VipsImage *t = NULL;
	if (vips_image_get_interpretation(in) != VIPS_INTERPRETATION_sRGB) {
		if (vips_colourspace(in, &t, VIPS_INTERPRETATION_sRGB, NULL))
			return -1;
	} else {
		t = in;
		g_object_ref(t);
	}
	if (vips_image_get_format(t) == VIPS_FORMAT_UCHAR) {
		*out = t;
		return 0;
	}
	int r = vips_cast_uchar(t, out, NULL);
	g_object_unref(t);
	return r;
}

static void *collect_field(VipsImage *im, const char *name, GValue *value, void *a) {
	GSList **names = (GSList **) a;
	*names = g_slist_prepend(*names, g_strdup(name));
	return NULL;
}

// strip_copy returns a copy of in without any metadata: EXIF, XMP, IPTC,
// ICC, orientation, comments, GIF and PNG text fields.
static int strip_copy(VipsImage *in, VipsImage **out) {
	if (vips_copy(in, out, NULL))
		return -1;
	GSList *names = NULL;
	vips_image_map(*out, collect_field, &names);
	for (GSList *p = names; p; p = p->next)
		vips_image_remove(*out, (const char *) p->data);
	g_slist_free_full(names, g_free);
	return 0;
}

static VipsImage *copy_memory(VipsImage *in) {
	return vips_image_copy_memory(in);
}


// load_jpeg decodes a JPEG upright and scaled to width (in upright terms;
// never enlarged), as thumbnail does but about twice as fast: shrunk on
// load, then reduced by lanczos_reduce while it is decoded, strip by strip,
// and only then rotated (the smaller image). The caller has found no
// profile to convert through (colourOf: plainRGB). It returns 1, with
// nothing made, for any other format, which thumbnail then takes.
static int load_jpeg(const void *buf, size_t len, int width, VipsImage **out) {
	const char *loader = vips_foreign_find_load_buffer(buf, len);
	if (!loader || strcmp(loader, "VipsForeignLoadJpegBuffer") != 0)
		return 1;
	VipsImage *head;
	if (vips_jpegload_buffer((void *) buf, len, &head, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL))
		return -1;
	const int orientation = vips_image_get_orientation(head);
	const int swap = vips_image_get_orientation_swap(head);
	const int sw = head->Xsize, sh = head->Ysize;
	g_object_unref(head);
	const int ow = swap ? sh : sw, oh = swap ? sw : sh;
	const int tw = VIPS_MIN(width, ow);
	const double factor = (double) ow / tw;
	int shrink = 1;
	for (int s = 8; s > 1; s /= 2)
		if (factor >= SHRINK_LEFT * s) {
			shrink = s;
			break;
		}
	// The height as thumbnail computes it: one factor for both axes.
	const int th = VIPS_MAX(1, (int) (oh / factor + 0.5));
	const int ow_s = VIPS_ROUND_UP(ow, shrink) / shrink, oh_s = VIPS_ROUND_UP(oh, shrink) / shrink;
	if (ow_s > (double) tw * REDUCE_MAX || oh_s > (double) th * REDUCE_MAX)
		return 1; // too much left after shrink-on-load: thumbnail box-shrinks it first
	VipsImage *t[2] = {NULL, NULL};
	int r = vips_jpegload_buffer((void *) buf, len, &t[0], "shrink", shrink,
			"fail_on", VIPS_FAIL_ON_TRUNCATED, "access", VIPS_ACCESS_SEQUENTIAL, NULL) ||
		lanczos_reduce(t[0], swap ? th : tw, swap ? tw : th, &t[1]);
	if (!r) {
		vips_image_set_int(t[1], VIPS_META_ORIENTATION, orientation);
		r = vips_autorot(t[1], out, NULL);
	}
	for (int i = 0; i < 2; i++)
		if (t[i])
			g_object_unref(t[i]);
	return r ? -1 : 0;
}

// can_reduce tells whether lanczos_reduce can make width x height of in.
static int can_reduce(VipsImage *in, int width, int height) {
	return !vips_image_hasalpha(in) && in->BandFmt == VIPS_FORMAT_UCHAR &&
		in->Coding == VIPS_CODING_NONE && width <= in->Xsize && height <= in->Ysize &&
		in->Xsize <= (double) width * REDUCE_MAX && in->Ysize <= (double) height * REDUCE_MAX;
}

// resize scales in, premultiplying alpha so transparent pixels do not
// darken their neighbours.
static int resize(VipsImage *in, VipsImage **out, double hscale, double vscale) {
	if (!vips_image_hasalpha(in))
		return vips_resize(in, out, hscale, "vscale", vscale, NULL);
	VipsImage *t[3] = {NULL, NULL, NULL};
	int r = vips_premultiply(in, &t[0], NULL) ||
		vips_resize(t[0], &t[1], hscale, "vscale", vscale, NULL) ||
		vips_unpremultiply(t[1], &t[2], NULL) ||
		vips_cast_uchar(t[2], out, NULL);
	for (int i = 0; i < 3; i++)
		if (t[i])
			g_object_unref(t[i]);
	return r;
}

static int extract_area(VipsImage *in, VipsImage **out, int left, int top, int width, int height) {
	return vips_extract_area(in, out, left, top, width, height, NULL);
}

// The memory target every encoding is written to. It refuses to grow past
// its limit: the encoder fails at its first write beyond it instead of
// finishing a huge file.
typedef struct {
	char *data;
	size_t len, cap, limit;
	int over;
} bounded;

static gint64 bounded_write(VipsTargetCustom *t, const void *data, gint64 n, void *user) {
	bounded *b = user;
	if (b->len + n > b->limit) {
		b->over = 1;
		return -1;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap * 2 > b->len + n ? b->cap * 2 : b->len + n;
		char *p = g_try_realloc(b->data, cap);
		if (!p)
			return -1;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, n);
	b->len += n;
	return n;
}

// save_bounded encodes in as format (0 jpeg, 1 png, 2 webp, 3 gif, 4 avif,
// 5 heic) into b, at most b->limit bytes, without metadata.
static int save_bounded(VipsImage *in, int format, int q, int effort, bounded *b) {
	VipsTargetCustom *t = vips_target_custom_new();
	g_signal_connect(t, "write", G_CALLBACK(bounded_write), b);
	VipsTarget *target = VIPS_TARGET(t);
	int r;
	switch (format) {
	case 0:
		r = vips_jpegsave_target(in, target, "Q", q, "strip", TRUE, "optimize_coding", TRUE, NULL);
		break;
	case 1:
		r = vips_pngsave_target(in, target, "strip", TRUE, NULL);
		break;
	case 2:
		r = vips_webpsave_target(in, target, "Q", q, "effort", effort, "strip", TRUE, NULL);
		break;
	case 3:
		r = vips_gifsave_target(in, target, "strip", TRUE, NULL);
		break;
	default:
		r = vips_heifsave_target(in, target, "Q", q, "strip", TRUE,
			"compression", format == 4 ? VIPS_FOREIGN_HEIF_COMPRESSION_AV1 : VIPS_FOREIGN_HEIF_COMPRESSION_HEVC,
			NULL);
	}
	g_object_unref(t);
	return r;
}
*/
import "C"

import (
	"errors"
	"math"
	"strings"
	"unsafe"
)

// startVips initialises libvips; see Start for why each setting.
func startVips(cfg Config) error {
	heif := 0
	if cfg.AllowHEIF {
		heif = 1
	}
	if C.start_vips(C.int(cfg.Concurrency), C.int(heif)) != 0 {
		return vipsError("start libvips")
	}
	return nil
}

// vipsError turns the libvips error buffer into a Go error. The buffer is
// process-wide, so under concurrency a message may belong to another call;
// callers classify errors by the step that failed, never by the text.
func vipsError(step string) error {
	msg := C.vips_error_buffer_copy()
	defer C.g_free(C.gpointer(msg))
	text := strings.TrimSpace(C.GoString(msg))
	if text == "" {
		text = "unknown libvips error"
	}
	return errors.New(step + ": " + strings.ReplaceAll(text, "\n", "; "))
}

// cBuffer is a copy of the upload in C memory: libvips keeps pointing into
// the buffer while a lazy pipeline runs, which Go memory must not allow.
type cBuffer struct {
	p unsafe.Pointer
	n C.size_t
}

func newCBuffer(b []byte) cBuffer { return cBuffer{C.CBytes(b), C.size_t(len(b))} }
func (b cBuffer) free()           { C.free(b.p) }

type vipsHeader struct {
	Width, Height, Bands, Pages, Orientation int
	HasICC, HasAlpha, EightBit               bool
	Interpretation                           string
}

func readVipsHeader(buf cBuffer) (vipsHeader, error) {
	var h C.header_info
	if C.read_header(buf.p, buf.n, &h) != 0 {
		return vipsHeader{}, vipsError("read header")
	}
	return vipsHeader{
		Width:          int(h.width),
		Height:         int(h.height),
		Bands:          int(h.bands),
		Pages:          max(1, int(h.pages)),
		Orientation:    int(h.orientation),
		HasICC:         h.has_icc != 0,
		HasAlpha:       h.has_alpha != 0,
		EightBit:       h.band_format == C.VIPS_FORMAT_UCHAR,
		Interpretation: C.GoString(h.interpretation),
	}, nil
}

// vimage owns one reference to a VipsImage.
type vimage struct{ p *C.VipsImage }

func (im vimage) Close()      { C.g_object_unref(C.gpointer(im.p)) }
func (im vimage) ref()        { C.g_object_ref(C.gpointer(im.p)) }
func (im vimage) Width() int  { return int(C.vips_image_get_width(im.p)) }
func (im vimage) Height() int { return int(C.vips_image_get_height(im.p)) }
func (im vimage) Bands() int  { return int(C.vips_image_get_bands(im.p)) }

// colourPath says how decode reaches sRGB.
type colourPath int

const (
	plainRGB   colourPath = 0 // no profile: libvips converts greyscale and 16-bit
	iccProfile colourPath = 1 // through the embedded profile
	cmyk       colourPath = 2 // see load_cmyk
)

// animation describes the frames of a decoded animation: Pages frames of
// PageHeight stacked in one image, shown for Delays ms each.
type animation struct {
	Pages, PageHeight int
	Delays            []int
	Loop              int // 0: forever
}

// decode loads buf shrunk on load to the given width (height unbounded),
// upright, in 8-bit sRGB, without metadata, and fully decoded in memory so
// that all later steps read pixels and never the source again.
func decode(buf cBuffer, width int, colour colourPath) (vimage, error) {
	img, _, err := decodeFrames(buf, width, colour, 1)
	return img, err
}

// decodeFrames is decode for the first pages frames of an animation,
// stacked top to bottom, each shrunk alike; with pages 1, or for a still,
// it is decode.
func decodeFrames(buf cBuffer, width int, colour colourPath, pages int) (vimage, animation, error) {
	return decodeWith(buf, width, colour, pages, true)
}

// decodeWith is decodeFrames, with load_jpeg's fast path for plain JPEGs
// or (for tests, to compare) without.
func decodeWith(buf cBuffer, width int, colour colourPath, pages int, fastJPEG bool) (vimage, animation, error) {
	var thumb, srgb8, bare *C.VipsImage
	if colour == cmyk {
		var full *C.VipsImage
		if C.load_cmyk(buf.p, buf.n, C.int(width), &full) != 0 {
			return vimage{}, animation{}, vipsError("decode")
		}
		defer C.g_object_unref(C.gpointer(full))
		scale := C.double(float64(width) / float64(C.vips_image_get_width(full)))
		if C.resize(full, &thumb, scale, scale) != 0 {
			return vimage{}, animation{}, vipsError("resize")
		}
	} else {
		r := C.int(1) // 1: load_jpeg does not take it
		if fastJPEG && colour == plainRGB && pages <= 1 {
			r = C.load_jpeg(buf.p, buf.n, C.int(width), &thumb)
		}
		if r < 0 || (r > 0 && C.thumbnail(buf.p, buf.n, C.int(width), C.VIPS_MAX_COORD, C.int(colour), C.int(pages), &thumb) != 0) {
			return vimage{}, animation{}, vipsError("decode")
		}
	}
	defer C.g_object_unref(C.gpointer(thumb))
	anim := readAnimation(thumb)
	if C.to_srgb8(thumb, &srgb8) != 0 {
		return vimage{}, animation{}, vipsError("convert to sRGB")
	}
	defer C.g_object_unref(C.gpointer(srgb8))
	if C.strip_copy(srgb8, &bare) != 0 {
		return vimage{}, animation{}, vipsError("remove metadata")
	}
	defer C.g_object_unref(C.gpointer(bare))
	mem := C.copy_memory(bare) // pixels are decoded here: truncation fails now
	if mem == nil {
		return vimage{}, animation{}, vipsError("decode")
	}
	return vimage{mem}, anim, nil
}

// readAnimation reads the frame layout and timing of a decoded image,
// before strip_copy removes them.
func readAnimation(im *C.VipsImage) animation {
	var a C.anim_info
	C.read_anim(im, &a)
	ph := max(1, int(a.page_height))
	anim := animation{Pages: int(C.vips_image_get_height(im)) / ph, PageHeight: ph, Loop: int(a.loop)}
	delays := unsafe.Slice((*C.int)(a.delays), int(a.n_delays))
	for i := range anim.Pages {
		d := 100 // ms; what browsers show for a missing or zero delay
		if i < len(delays) && delays[i] > 0 {
			d = int(delays[i])
		}
		anim.Delays = append(anim.Delays, d)
	}
	return anim
}

// Resize scales im to width x height. A reduction of an 8-bit image
// without alpha, the common case, runs this package's own lanczos3
// (reduce.c, twice as fast as libvips 8.14's for the same pixels); the rest
// (alpha, which is premultiplied first; enlargements) goes to vips_resize.
func (im vimage) Resize(width, height int) (vimage, error) {
	var out *C.VipsImage
	if C.can_reduce(im.p, C.int(width), C.int(height)) != 0 {
		if C.lanczos_reduce(im.p, C.int(width), C.int(height), &out) != 0 {
			return vimage{}, vipsError("resize")
		}
		return vimage{out}, nil
	}
	return im.vipsResize(width, height)
}

// vipsResize is Resize by vips_resize alone.
func (im vimage) vipsResize(width, height int) (vimage, error) {
	var out *C.VipsImage
	h := float64(width) / float64(im.Width())
	v := float64(height) / float64(im.Height())
	if C.resize(im.p, &out, C.double(h), C.double(v)) != 0 {
		return vimage{}, vipsError("resize")
	}
	return vimage{out}, nil
}

// Materialise computes the image into memory, so that later steps read
// its pixels instead of running its pipeline again.
func (im vimage) Materialise() (vimage, error) {
	mem := C.copy_memory(im.p)
	if mem == nil {
		return vimage{}, vipsError("materialise")
	}
	return vimage{mem}, nil
}

func (im vimage) Crop(left, top, width, height int) (vimage, error) {
	var out *C.VipsImage
	if C.extract_area(im.p, &out, C.int(left), C.int(top), C.int(width), C.int(height)) != 0 {
		return vimage{}, vipsError("crop")
	}
	return vimage{out}, nil
}

// Animate returns the image, a (the frames stacked), marked so that
// Encode writes an animation (WebP, GIF).
func (im vimage) Animate(a animation) (vimage, error) {
	var out *C.VipsImage
	delays := make([]C.int, len(a.Delays))
	for i, d := range a.Delays {
		delays[i] = C.int(d)
	}
	var p *C.int
	if len(delays) > 0 {
		p = &delays[0] // set_anim copies the values
	}
	if C.set_anim(im.p, &out, C.int(a.PageHeight), p, C.int(len(delays)), C.int(a.Loop)) != 0 {
		return vimage{}, vipsError("animate")
	}
	return vimage{out}, nil
}

// joinFrames stacks frames of the same size top to bottom.
func joinFrames(frames []vimage) (vimage, error) {
	ps := C.malloc(C.size_t(len(frames)) * C.size_t(unsafe.Sizeof((*C.VipsImage)(nil))))
	defer C.free(ps)
	arr := unsafe.Slice((**C.VipsImage)(ps), len(frames))
	for i, f := range frames {
		arr[i] = f.p
	}
	var out *C.VipsImage
	if C.join_frames((**C.VipsImage)(ps), C.int(len(frames)), &out) != 0 {
		return vimage{}, vipsError("join frames")
	}
	return vimage{out}, nil
}

// Pixels returns the raw interleaved 8-bit samples, Bands() per pixel.
func (im vimage) Pixels() ([]byte, error) {
	var n C.size_t
	p := C.vips_image_write_to_memory(im.p, &n)
	if p == nil {
		return nil, vipsError("read pixels")
	}
	defer C.g_free(C.gpointer(p))
	return C.GoBytes(p, C.int(n)), nil
}

// Encode saves the image as format ("webp", "avif", "heic", "jpeg", "png",
// "gif") at quality q (ignored by png and gif); effort is libwebp's method.
func (im vimage) Encode(format string, q, effort int) ([]byte, error) {
	return im.EncodeWithin(format, q, effort, math.MaxInt64)
}

// errEncodingTooLarge is EncodeWithin's answer when the encoding would pass
// its limit.
var errEncodingTooLarge = errors.New("encoding over its size limit")

// EncodeWithin is Encode for an output that must not pass limit bytes: the
// encoder writes into a bounded target and stops at its first write past
// the limit (errEncodingTooLarge), rather than finishing a file of any size
// in memory first. libvips 8.14's JPEG, PNG and GIF savers write as they
// go; its WebP and HEIF savers write once at the end, so for those the
// limit bounds the result, not the work.
func (im vimage) EncodeWithin(format string, q, effort int, limit int64) ([]byte, error) {
	code, ok := map[string]C.int{"jpeg": 0, "png": 1, "webp": 2, "gif": 3, "avif": 4, "heic": 5}[format]
	if !ok {
		return nil, errors.New("encode: unknown format " + format)
	}
	b := (*C.bounded)(C.calloc(1, C.sizeof_bounded))
	defer C.free(unsafe.Pointer(b))
	b.limit = C.size_t(limit)
	r := C.save_bounded(im.p, code, C.int(q), C.int(effort), b)
	defer C.g_free(C.gpointer(b.data))
	if b.over != 0 {
		C.vips_error_clear()
		return nil, errEncodingTooLarge
	}
	if r != 0 {
		return nil, vipsError("encode " + format)
	}
	data := append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(b.data)), int(b.len))...) // any size, unlike GoBytes
	if format == "webp" {
		// libvips 8.14 ignores strip in webpsave and writes an EXIF chunk
		// it builds from the resolution fields (libvips issue 3340).
		return stripWebP(data)
	}
	return data, nil
}

// Memory reports the bytes libvips has allocated for pixels now, and the
// most it has held at once since start-up (for metrics).
func Memory() (current, peak int64) {
	return int64(C.vips_tracked_get_mem()), int64(C.vips_tracked_get_mem_highwater())
}
