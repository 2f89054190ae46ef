// The C half of the binding; vips.h says what each function does, and
// this file how and why.

#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "reduce.h"
#include "vips.h"

static void quiet_log(const gchar *domain, GLogLevelFlags level,
	const gchar *message, gpointer data) {
}

int xip_start(int concurrency) {
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
	return 0;
}

void xip_allow_heif(void) {
	vips_operation_block_set("VipsForeignLoadHeif", FALSE);
}

// loader_nickname is the nickname of the buffer loader of format.
static const char *loader_nickname(int format) {
	switch (format) {
	case XIP_JPEG:
		return "jpegload_buffer";
	case XIP_PNG:
		return "pngload_buffer";
	case XIP_WEBP:
		return "webpload_buffer";
	case XIP_GIF:
		return "gifload_buffer";
	default:
		return "heifload_buffer";
	}
}

int xip_detected(int format, const void *buf, size_t len, const char **other) {
	const char *name = vips_foreign_find_load_buffer(buf, len);
	if (!name)
		return -1;
	const char *nick = vips_nickname_find(g_type_from_name(name));
	if (nick && strcmp(nick, loader_nickname(format)) == 0)
		return 1;
	*other = nick ? nick : name;
	return 0;
}

// load opens buf with the loader of format, never libvips' choice: a file
// that sniffs as one format but that libvips would detect as another must
// not reach that other loader. fail_on_truncated makes a decode of a file
// cut short fail instead of returning a grey lower half.
static int load(int format, const void *buf, size_t len, int fail_on_truncated, VipsImage **out) {
	VipsFailOn fail = fail_on_truncated ? VIPS_FAIL_ON_TRUNCATED : VIPS_FAIL_ON_NONE;
	void *b = (void *) buf;
	switch (format) {
	case XIP_JPEG:
		return vips_jpegload_buffer(b, len, out, "fail_on", fail, NULL);
	case XIP_PNG:
		return vips_pngload_buffer(b, len, out, "fail_on", fail, NULL);
	case XIP_WEBP:
		return vips_webpload_buffer(b, len, out, "fail_on", fail, NULL);
	case XIP_GIF:
		return vips_gifload_buffer(b, len, out, "fail_on", fail, NULL);
	case XIP_AVIF:
	case XIP_HEIC:
		return vips_heifload_buffer(b, len, out, "fail_on", fail, NULL);
	}
	vips_error("ximagepipeline", "unknown format %d", format);
	return -1;
}

int read_header(int format, const void *buf, size_t len, header_info *h) {
	VipsImage *im;
	if (load(format, buf, len, 0, &im))
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

int thumbnail(const void *buf, size_t len, int width, int height,
	int to_srgb, const char *srgb, int pages, VipsImage **out) {
	char options[64] = "fail_on=truncated";
	if (pages > 1)
		g_snprintf(options, sizeof(options), "fail_on=truncated,n=%d", pages);
	if (to_srgb)
		return vips_thumbnail_buffer((void *) buf, len, out, width,
			"height", height, "size", VIPS_SIZE_DOWN,
			"fail_on", VIPS_FAIL_ON_TRUNCATED, "option_string", options,
			"export_profile", srgb, NULL);
	return vips_thumbnail_buffer((void *) buf, len, out, width,
		"height", height, "size", VIPS_SIZE_DOWN,
		"fail_on", VIPS_FAIL_ON_TRUNCATED, "option_string", options, NULL);
}

void read_anim(VipsImage *in, anim_info *a) {
	a->page_height = vips_image_get_page_height(in);
	a->loop = 0;
	if (vips_image_get_typeof(in, "loop"))
		vips_image_get_int(in, "loop", &a->loop);
	a->delays = NULL;
	a->n_delays = 0;
	if (vips_image_get_typeof(in, "delay"))
		vips_image_get_array_int(in, "delay", &a->delays, &a->n_delays);
}

int set_anim(VipsImage *in, VipsImage **out, int page_height, int *delays, int n, int loop) {
	if (vips_copy(in, out, NULL))
		return -1;
	vips_image_set_int(*out, VIPS_META_PAGE_HEIGHT, page_height);
	vips_image_set_array_int(*out, "delay", delays, n);
	vips_image_set_int(*out, "loop", loop);
	return 0;
}

int join_frames(VipsImage **in, int n, VipsImage **out) {
	return vips_arrayjoin(in, out, n, "across", 1, NULL);
}

// SHRINK_LEFT is the reduction left to lanczos after shrink-on-load, at
// least, as thumbnail leaves it: libjpeg's block shrink sharpens, and
// shrinking the 2725 px photo by 2 on load for its 1200 px variant cost
// 0.023 of SSIM (0.917 against 0.940, sharp 0.940).
#define SHRINK_LEFT 2

// jpeg_shrink is the shrink-on-load factor (1, 2, 4 or 8) for a reduction
// by factor: the largest that leaves at least SHRINK_LEFT to lanczos.
static int jpeg_shrink(double factor) {
	for (int s = 8; s > 1; s /= 2)
		if (factor >= SHRINK_LEFT * s)
			return s;
	return 1;
}

// load_cmyk shrinks a JPEG on load by load_jpeg's rule towards width (in
// upright terms): decoded whole, a 100 MP CMYK JPEG went through a
// temporary file and took over a minute for an avatar. libvips 8.14's
// thumbnail rejects some embedded CMYK profiles ("profile incompatible
// with image") and falls back silently, shifting colours, hence this path.
int load_cmyk(int format, const void *buf, size_t len, int width, const char *srgb, VipsImage **out) {
	VipsImage *t[2] = {NULL, NULL};
	if (format == XIP_JPEG) {
		VipsImage *head;
		if (vips_jpegload_buffer((void *) buf, len, &head, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL))
			return -1;
		const int ow = vips_image_get_orientation_swap(head) ? head->Ysize : head->Xsize;
		g_object_unref(head);
		const int shrink = jpeg_shrink((double) ow / VIPS_MIN(width, ow));
		vips_jpegload_buffer((void *) buf, len, &t[0], "shrink", shrink, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
	} else
		load(format, buf, len, 1, &t[0]);
	if (!t[0])
		return -1;
	int r = vips_autorot(t[0], &t[1], NULL) ||
		vips_icc_transform(t[1], out, srgb, "embedded", TRUE,
			"input_profile", "cmyk", NULL);
	for (int i = 0; i < 2; i++)
		if (t[i])
			g_object_unref(t[i]);
	return r;
}

int to_srgb8(VipsImage *in, VipsImage **out) {
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

// strip_copy removes every field: EXIF, XMP, IPTC, ICC, orientation,
// comments, GIF and PNG text, whatever a loader attached.
int strip_copy(VipsImage *in, VipsImage **out) {
	if (vips_copy(in, out, NULL))
		return -1;
	GSList *names = NULL;
	vips_image_map(*out, collect_field, &names);
	for (GSList *p = names; p; p = p->next)
		vips_image_remove(*out, (const char *) p->data);
	g_slist_free_full(names, g_free);
	return 0;
}

// reduce_upright reduces in (as loaded, orientation not applied, read
// top to bottom) to width x height with lanczos_reduce while it is read,
// then applies orientation to the smaller image, in memory. An upright
// image at its own size is passed on as it is read.
static int reduce_upright(VipsImage *in, int width, int height, int orientation, VipsImage **out) {
	if (width == in->Xsize && height == in->Ysize && orientation <= 1)
		return vips_copy(in, out, NULL) ? -1 : 0;
	VipsImage *small;
	if (lanczos_reduce(in, width, height, &small))
		return -1;
	vips_image_set_int(small, VIPS_META_ORIENTATION, orientation);
	const int r = vips_autorot(small, out, NULL);
	g_object_unref(small);
	return r ? -1 : 0;
}

// load_jpeg is what thumbnail does for a plain JPEG (no profile to convert
// through: the caller checked), about twice as fast: shrunk on load, then
// reduced by lanczos_reduce while it is decoded, strip by strip, and only
// then rotated (the smaller image).
int load_jpeg(const void *buf, size_t len, int width, VipsImage **out) {
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
	const int shrink = jpeg_shrink(factor);
	// The height as thumbnail computes it: one factor for both axes.
	const int th = VIPS_MAX(1, (int) (oh / factor + 0.5));
	const int ow_s = VIPS_ROUND_UP(ow, shrink) / shrink, oh_s = VIPS_ROUND_UP(oh, shrink) / shrink;
	if (ow_s > (double) tw * REDUCE_MAX || oh_s > (double) th * REDUCE_MAX)
		return 1; // too much left after shrink-on-load: thumbnail box-shrinks it first
	VipsImage *in;
	if (vips_jpegload_buffer((void *) buf, len, &in, "shrink", shrink,
			"fail_on", VIPS_FAIL_ON_TRUNCATED, "access", VIPS_ACCESS_SEQUENTIAL, NULL))
		return -1;
	const int r = reduce_upright(in, swap ? th : tw, swap ? tw : th, orientation, out);
	g_object_unref(in);
	return r;
}

// load_png is load_jpeg for an 8-bit grey, RGB or RGBA PNG: decoded row
// by row while lanczos_reduce reads it (RGBA premultiplied), then
// oriented. thumbnail would premultiply in float and resize with a kernel
// computed for every pixel. 1: another kind of PNG (16-bit, grey with
// alpha), or more to reduce than lanczos_reduce takes: thumbnail's.
int load_png(const void *buf, size_t len, int width, VipsImage **out) {
	VipsImage *in;
	if (vips_pngload_buffer((void *) buf, len, &in, "fail_on", VIPS_FAIL_ON_TRUNCATED,
			"access", VIPS_ACCESS_SEQUENTIAL, NULL))
		return -1;
	const int orientation = vips_image_get_orientation(in);
	const int swap = vips_image_get_orientation_swap(in);
	const int ow = swap ? in->Ysize : in->Xsize, oh = swap ? in->Xsize : in->Ysize;
	const int tw = VIPS_MIN(width, ow);
	const double factor = (double) ow / tw;
	const int th = VIPS_MAX(1, (int) (oh / factor + 0.5));
	int r = 1; // another kind of PNG, or too large a reduction
	if (in->BandFmt == VIPS_FORMAT_UCHAR && in->Coding == VIPS_CODING_NONE &&
		(in->Bands == 1 || in->Bands == 3 || (in->Bands == 4 && vips_image_hasalpha(in))) &&
		ow <= (double) tw * REDUCE_MAX && oh <= (double) th * REDUCE_MAX)
		r = reduce_upright(in, swap ? th : tw, swap ? tw : th, orientation, out);
	g_object_unref(in);
	return r;
}

int can_reduce(VipsImage *in, int width, int height) {
	return (!vips_image_hasalpha(in) || in->Bands == 4) && in->BandFmt == VIPS_FORMAT_UCHAR &&
		in->Coding == VIPS_CODING_NONE && width <= in->Xsize && height <= in->Ysize &&
		in->Xsize <= (double) width * REDUCE_MAX && in->Ysize <= (double) height * REDUCE_MAX;
}

// resize premultiplies alpha so that transparent pixels do not darken
// their neighbours.
int resize(VipsImage *in, VipsImage **out, double hscale, double vscale) {
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

int extract_area(VipsImage *in, VipsImage **out, int left, int top, int width, int height) {
	return vips_extract_area(in, out, left, top, width, height, NULL);
}

// flatten_white blends alpha onto white, as a page would show the image:
// a JPEG has no alpha, and libvips' own flattening uses black.
int flatten_white(VipsImage *in, VipsImage **out) {
	VipsArrayDouble *bg = vips_array_double_newv(3, 255.0, 255.0, 255.0);
	int r = vips_flatten(in, out, "background", bg, NULL);
	vips_area_unref(VIPS_AREA(bg));
	return r;
}

// bounded_write makes the encoder fail at its first write beyond the
// limit instead of finishing a huge file.
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

int save_bounded(VipsImage *in, int format, int q, int effort, bounded *b) {
	VipsTargetCustom *t = vips_target_custom_new();
	g_signal_connect(t, "write", G_CALLBACK(bounded_write), b);
	VipsTarget *target = VIPS_TARGET(t);
	int r;
	switch (format) {
	case XIP_JPEG:
		r = vips_jpegsave_target(in, target, "Q", q, "strip", TRUE, "optimize_coding", TRUE, NULL);
		break;
	case XIP_PNG:
		r = vips_pngsave_target(in, target, "strip", TRUE, NULL);
		break;
	case XIP_WEBP:
		r = vips_webpsave_target(in, target, "Q", q, "effort", effort, "strip", TRUE, NULL);
		break;
	case XIP_GIF:
		r = vips_gifsave_target(in, target, "strip", TRUE, NULL);
		break;
	default:
		r = vips_heifsave_target(in, target, "Q", q, "strip", TRUE,
			"compression", format == XIP_AVIF ? VIPS_FOREIGN_HEIF_COMPRESSION_AV1 : VIPS_FOREIGN_HEIF_COMPRESSION_HEVC,
			NULL);
	}
	g_object_unref(t);
	return r;
}
