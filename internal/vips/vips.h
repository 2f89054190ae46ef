// The C half of the binding: what vips.go calls, where one libvips call is
// not enough or where C is simpler (varargs, GObject signals, metadata
// walks). Each function returns 0 on success and -1 with the libvips error
// buffer set, unless it says otherwise.
#ifndef XIP_VIPS_H
#define XIP_VIPS_H

#include <stddef.h>
#include <vips/vips.h>

// The formats the binding loads and saves, in the order of formatCodes in
// vips.go. AVIF and HEIC share libheif's loader.
enum { XIP_JPEG, XIP_PNG, XIP_WEBP, XIP_GIF, XIP_AVIF, XIP_HEIC };

// xip_start initialises libvips for the process: concurrency threads per
// operation, no operation cache, no warnings on stderr, and every loader
// blocked but JPEG, PNG, WebP and GIF.
int xip_start(int concurrency);

// xip_allow_heif unblocks libheif's loader (AVIF, HEIC) for the process.
void xip_allow_heif(void);

// xip_detected reports whether libvips' own content detection (which
// vips_thumbnail_buffer uses) picks the loader of format for buf: 1 yes,
// 0 another loader (whose nickname is put in *other), -1 none at all.
int xip_detected(int format, const void *buf, size_t len, const char **other);

typedef struct {
	int width, height, bands, pages, orientation, has_icc, has_alpha;
	int band_format;
	const char *interpretation;
} header_info;

// read_header reads buf's header with the loader of format.
int read_header(int format, const void *buf, size_t len, header_info *h);

// thumbnail decodes, shrinks, orients and (to_srgb) converts through the
// embedded profile to the profile srgb names, with the loader libvips
// detects. pages > 1 loads that many frames of an animation as one tall
// image of pages frames (page-height set), each shrunk alike.
int thumbnail(const void *buf, size_t len, int width, int height,
	int to_srgb, const char *srgb, int pages, VipsImage **out);

typedef struct {
	int page_height, loop, n_delays;
	int *delays; // owned by the image it was read from
} anim_info;

// read_anim reads the animation fields strip_copy removes.
void read_anim(VipsImage *in, anim_info *a);

// set_anim returns a copy of in, n frames of page_height stacked, that
// savers write as an animation.
int set_anim(VipsImage *in, VipsImage **out, int page_height, int *delays, int n, int loop);

int join_frames(VipsImage **in, int n, VipsImage **out);

// load_cmyk loads a CMYK image of format upright in sRGB (the profile srgb
// names), through its embedded profile (or libvips' CMYK profile), a JPEG
// shrunk on load.
int load_cmyk(int format, const void *buf, size_t len, int width, const char *srgb, VipsImage **out);

// load_jpeg decodes a JPEG upright and scaled to width, reduced while it
// decodes. It returns 1, with nothing made, when the reduction left after
// shrink-on-load is past REDUCE_MAX: thumbnail then takes it.
int load_jpeg(const void *buf, size_t len, int width, VipsImage **out);

// load_png decodes an 8-bit grey, RGB or RGBA PNG upright and scaled to
// width, reduced while it decodes. It returns 1, with nothing made, for
// other PNGs and reductions past REDUCE_MAX: thumbnail then takes them.
int load_png(const void *buf, size_t len, int width, VipsImage **out);

// to_srgb8 converts any interpretation and depth to 8-bit sRGB, keeping
// alpha.
int to_srgb8(VipsImage *in, VipsImage **out);

// strip_copy returns a copy of in without any metadata.
int strip_copy(VipsImage *in, VipsImage **out);

// can_reduce tells whether lanczos_reduce can make width x height of in
// (1 yes, 0 no).
int can_reduce(VipsImage *in, int width, int height);

// resize scales in with vips_resize, premultiplying alpha.
int resize(VipsImage *in, VipsImage **out, double hscale, double vscale);

int extract_area(VipsImage *in, VipsImage **out, int left, int top, int width, int height);

// flatten_white blends alpha onto white.
int flatten_white(VipsImage *in, VipsImage **out);

// bounded is the memory target every encoding is written to: it refuses
// to grow past limit (over is then set).
typedef struct {
	char *data;
	size_t len, cap, limit;
	int over;
} bounded;

// save_bounded encodes in as format into b, without metadata.
int save_bounded(VipsImage *in, int format, int q, int effort, bounded *b);

#endif
