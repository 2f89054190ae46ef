// Lanczos3 reduction of 8-bit images, streamed top to bottom.
//
// libvips 8.14 (Debian 12) computes its vertical reduce one output byte at a
// time, walking down a column of source rows: a third of a hero job went
// there. This does the same filter in the order the CPU likes: each output
// row is first reduced vertically across the whole width (contiguous, so
// the compiler vectorises it), then horizontally. It reads its input
// through a region, so a lazily decoded JPEG is decoded strip by strip and
// never held whole. docs/imaging.md has the measurements.

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <vips/vips.h>

#include "reduce.h"

#define BITS 14
#define ONE (1 << BITS)
#define LOBES 3
#define CHUNK 32 // source rows fetched per region request

// taps holds, for each output position, n weights (summing to ONE) and the
// index of the source position each applies to, edges repeated.
typedef struct {
	int n;
	int *index;      // out * n source indices, clamped to [0, in)
	int16_t *weight; // out * n weights
	int *first;      // out: the unclamped index of each position's first tap
} taps;

static double lanczos(double x) {
	if (x == 0)
		return 1;
	if (x <= -LOBES || x >= LOBES)
		return 0;
	double px = M_PI * x;
	return LOBES * sin(px) * sin(px / LOBES) / (px * px);
}

// make_taps maps out positions onto in ones as libvips does: the centre of
// output pixel i is at (i + 0.5) * in / out - 0.5 in the source. A
// reduction widens the kernel by the same factor, so that every source
// pixel contributes.
static int make_taps(taps *t, int in, int out) {
	double factor = (double) in / out;
	double scale = factor > 1 ? factor : 1;
	double support = LOBES * scale;
	t->n = (int) ceil(2 * support) + 1;
	t->index = g_try_malloc(sizeof(int) * out * t->n);
	t->weight = g_try_malloc(sizeof(int16_t) * out * t->n);
	t->first = g_try_malloc(sizeof(int) * out);
	double *w = g_try_malloc(sizeof(double) * t->n);
	if (!t->index || !t->weight || !t->first || !w) {
		g_free(w);
		return -1;
	}
	for (int i = 0; i < out; i++) {
		double centre = (i + 0.5) * factor - 0.5;
		int first = (int) floor(centre - support) + 1;
		t->first[i] = first;
		double sum = 0;
		for (int k = 0; k < t->n; k++) {
			w[k] = lanczos((first + k - centre) / scale);
			sum += w[k];
		}
		int *index = t->index + i * t->n;
		int16_t *weight = t->weight + i * t->n;
		int total = 0, biggest = 0;
		for (int k = 0; k < t->n; k++) {
			index[k] = VIPS_CLIP(0, first + k, in - 1);
			weight[k] = (int16_t) lrint(w[k] / sum * ONE);
			total += weight[k];
			if (weight[k] > weight[biggest])
				biggest = k;
		}
		weight[biggest] += ONE - total; // the weights sum to exactly ONE
	}
	g_free(w);
	return 0;
}

static void free_taps(taps *t) {
	g_free(t->index);
	g_free(t->weight);
	g_free(t->first);
}

static inline uint8_t to_byte(int32_t acc) {
	int v = (acc + ONE / 2) >> BITS;
	return (uint8_t) (v < 0 ? 0 : v > 255 ? 255 : v);
}

// vertical sums n source rows, each weighted, across a whole row of width
// bytes. The inner loop is contiguous: compiled for AVX2 where the CPU has
// it, SSE4.1 or plain x86-64 otherwise.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__) // ifunc
__attribute__((target_clones("avx2", "sse4.1", "default")))
#endif
static void vertical(const uint8_t **rows, const int16_t *weight, int n, int width,
	int32_t *acc, uint8_t *out) {
	for (int x = 0; x < width; x++)
		acc[x] = 0;
	for (int k = 0; k < n; k++) {
		const uint8_t *row = rows[k];
		int32_t w = weight[k];
		for (int x = 0; x < width; x++)
			acc[x] += w * row[x];
	}
	for (int x = 0; x < width; x++)
		out[x] = to_byte(acc[x]);
}

// The RGBA path weights every pixel by its alpha (premultiplied), so that
// transparent pixels, whatever colour they hold, do not bleed into their
// neighbours: what vips_resize does between vips_premultiply and
// vips_unpremultiply, in float, computing the kernel for every pixel (6 ms
// for a 64 px thumbnail of a 256x192 PNG). Values are carried in 16 bits,
// colour times alpha and alpha times 255 (0 to P16), so that faint pixels
// keep their precision, and divided back at the end.
#define P16 (255 * 255)

static void premultiply_row(const uint8_t *in, int width, uint16_t *out) {
	for (int x = 0; x < width; x++, in += 4, out += 4) {
		const int a = in[3];
		out[0] = (uint16_t) (in[0] * a);
		out[1] = (uint16_t) (in[1] * a);
		out[2] = (uint16_t) (in[2] * a);
		out[3] = (uint16_t) (a * 255);
	}
}

static inline int32_t to_p16(int32_t acc) {
	int32_t v = (acc + ONE / 2) >> BITS;
	return v < 0 ? 0 : v > P16 ? P16 : v;
}

// vertical16 is vertical for premultiplied rows of len 16-bit values. The
// sums fit: the kernel's weights add up to at most 1.3 ONE in absolute
// value, times P16, under 2^31.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__) // ifunc
__attribute__((target_clones("avx2", "sse4.1", "default")))
#endif
static void vertical16(const uint16_t **rows, const int16_t *weight, int n, int len,
	int32_t *acc, uint16_t *out) {
	for (int x = 0; x < len; x++)
		acc[x] = 0;
	for (int k = 0; k < n; k++) {
		const uint16_t *row = rows[k];
		int32_t w = weight[k];
		for (int x = 0; x < len; x++)
			acc[x] += w * row[x];
	}
	for (int x = 0; x < len; x++)
		out[x] = (uint16_t) to_p16(acc[x]);
}

// horizontal_rgba16 is horizontal for premultiplied RGBA, and divides the
// colour back by the alpha it ends with (0 where that is 0, as
// vips_unpremultiply does).
static void horizontal_rgba16(const uint16_t *in, const taps *t, int out_width, uint8_t *out) {
	const int n = t->n;
	for (int x = 0; x < out_width; x++, out += 4) {
		const int *index = t->index + x * n;
		const int16_t *weight = t->weight + x * n;
		int32_t acc[4] = {0, 0, 0, 0};
		for (int k = 0; k < n; k++) {
			const uint16_t *p = in + index[k] * 4;
			const int32_t w = weight[k];
			acc[0] += w * p[0];
			acc[1] += w * p[1];
			acc[2] += w * p[2];
			acc[3] += w * p[3];
		}
		const int32_t a = to_p16(acc[3]);
		out[3] = (uint8_t) ((a + 127) / 255);
		for (int b = 0; b < 3; b++) {
			const int32_t c = a ? (to_p16(acc[b]) * 255 + a / 2) / a : 0;
			out[b] = (uint8_t) (c > 255 ? 255 : c);
		}
	}
}

static void horizontal(const uint8_t *in, const taps *t, int out_width, int bands, uint8_t *out) {
	const int n = t->n;
	for (int x = 0; x < out_width; x++) {
		const int *index = t->index + x * n;
		const int16_t *weight = t->weight + x * n;
		for (int b = 0; b < bands; b++) {
			int32_t a = 0;
			for (int k = 0; k < n; k++)
				a += weight[k] * in[index[k] * bands + b];
			*out++ = to_byte(a);
		}
	}
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_RGB_SIMD 1

// MAX_TAPS is how many pixels the padded row repeats past each edge: more
// than half of the widest kernel horizontal_rgb takes (n + 2 <= MAX_TAPS,
// a reduction by up to about 10x), so no tap reads outside the row.
#define MAX_TAPS 64

// pair_weights lays out each position's weights two by two, as the
// (w[k], w[k+1]) int16 pairs _mm_madd_epi16 takes, zero-padding odd n.
static int32_t *pair_weights(const taps *t, int out_width) {
	const int pairs = (t->n + 1) / 2;
	int32_t *w = g_try_malloc(sizeof(int32_t) * out_width * pairs);
	if (!w)
		return NULL;
	for (int x = 0; x < out_width; x++)
		for (int p = 0; p < pairs; p++) {
			int k = 2 * p;
			uint16_t lo = (uint16_t) t->weight[x * t->n + k];
			uint16_t hi = k + 1 < t->n ? (uint16_t) t->weight[x * t->n + k + 1] : 0;
			w[x * pairs + p] = (int32_t) ((uint32_t) lo | (uint32_t) hi << 16);
		}
	return w;
}

// horizontal_rgb is horizontal for 3 bands, two taps per step: in is a row
// padded with MAX_TAPS repeated edge pixels on each side (plus 8 spare
// bytes), so that every position's taps are contiguous pixels.
__attribute__((target("ssse3")))
static void horizontal_rgb(const uint8_t *in, const taps *t, const int32_t *pairs_w,
	int out_width, uint8_t *out) {
	const int pairs = (t->n + 1) / 2;
	// R0 R1 G0 G1 B0 B1 as int16 lanes, from two consecutive RGB pixels.
	const __m128i spread = _mm_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1);
	const __m128i half = _mm_set1_epi32(ONE / 2);
	for (int x = 0; x < out_width; x++) {
		const uint8_t *p = in + (MAX_TAPS + t->first[x]) * 3;
		const int32_t *w = pairs_w + x * pairs;
		__m128i acc = half;
		for (int k = 0; k < pairs; k++, p += 6) {
			__m128i px = _mm_shuffle_epi8(_mm_loadl_epi64((const __m128i *) p), spread);
			acc = _mm_add_epi32(acc, _mm_madd_epi16(px, _mm_set1_epi32(w[k])));
		}
		acc = _mm_srai_epi32(acc, BITS);
		acc = _mm_packus_epi16(_mm_packs_epi32(acc, acc), acc);
		uint32_t rgbx = (uint32_t) _mm_cvtsi128_si32(acc);
		memcpy(out, &rgbx, 4); // the fourth byte is overwritten next, or spare
		out += 3;
	}
}

static int have_ssse3(void) {
	return __builtin_cpu_supports("ssse3");
}
#else
#define HAVE_RGB_SIMD 0
#endif

int lanczos_reduce(VipsImage *in, int out_width, int out_height, VipsImage **out) {
	const int in_width = in->Xsize, in_height = in->Ysize, bands = in->Bands;
	if (in->BandFmt != VIPS_FORMAT_UCHAR || in->Coding != VIPS_CODING_NONE ||
		out_width < 1 || out_height < 1 ||
		in_width > (double) out_width * REDUCE_MAX || in_height > (double) out_height * REDUCE_MAX) {
		vips_error("lanczos_reduce", "needs an 8-bit uncoded image and a reduction of at most %dx",
			REDUCE_MAX);
		return -1;
	}
	// RGBA is reduced premultiplied, in 16 bits: the ring, mid and acc
	// hold 16-bit values, and in_line counts bytes.
	const int alpha = bands == 4 && vips_image_hasalpha(in);
	const size_t in_line = (size_t) in_width * bands * (alpha ? 2 : 1);
	taps h = {0}, v = {0};
	VipsRegion *region = NULL;
	uint8_t *ring = NULL, *mid = NULL, *line = NULL;
	const uint8_t **rows = NULL;
	int32_t *acc = NULL, *pairs = NULL;
	int r = -1;

	*out = vips_image_new_memory();
	vips_image_init_fields(*out, out_width, out_height, bands, VIPS_FORMAT_UCHAR,
		VIPS_CODING_NONE, in->Type, in->Xres, in->Yres);
	if (vips_image_write_prepare(*out) || make_taps(&h, in_width, out_width) ||
		make_taps(&v, in_height, out_height))
		goto done;
	// The ring holds the source rows the next output rows need: one
	// output row's span, plus what a region request brings in at once.
	const int capacity = v.n + CHUNK;
	ring = g_try_malloc(in_line * capacity);
#if HAVE_RGB_SIMD
	if (bands == 3 && h.n + 2 <= MAX_TAPS && have_ssse3() && !(pairs = pair_weights(&h, out_width)))
		goto done;
	// room for MAX_TAPS repeated pixels each side, and 8 spare bytes
	mid = g_try_malloc0(in_line + 2 * MAX_TAPS * 3 + 8);
#else
	mid = g_try_malloc(in_line);
#endif
	line = g_try_malloc((size_t) out_width * bands + 1);
	acc = g_try_malloc(sizeof(int32_t) * (size_t) in_width * bands);
	rows = g_try_malloc(sizeof(uint8_t *) * v.n);
	if (!ring || !mid || !line || !acc || !rows || !(region = vips_region_new(in)))
		goto done;

	int fetched = 0; // source rows [0, fetched) have been copied into the ring
	for (int y = 0; y < out_height; y++) {
		const int *index = v.index + y * v.n;
		const int need = index[v.n - 1] + 1;
		while (fetched < need) {
			VipsRect want = {0, fetched, in_width, VIPS_MIN(CHUNK, in_height - fetched)};
			if (vips_region_prepare(region, &want))
				goto done;
			for (int i = 0; i < want.height; i++, fetched++) {
				uint8_t *to = ring + (fetched % capacity) * in_line;
				const uint8_t *from = VIPS_REGION_ADDR(region, 0, fetched);
				if (alpha)
					premultiply_row(from, in_width, (uint16_t *) to);
				else
					memcpy(to, from, in_line);
			}
		}
		for (int k = 0; k < v.n; k++)
			rows[k] = ring + (index[k] % capacity) * in_line;
		if (alpha) {
			vertical16((const uint16_t **) rows, v.weight + y * v.n, v.n, in_width * 4, acc, (uint16_t *) mid);
			horizontal_rgba16((const uint16_t *) mid, &h, out_width, line);
		} else
#if HAVE_RGB_SIMD
		if (pairs) {
			uint8_t *row = mid + MAX_TAPS * 3;
			vertical(rows, v.weight + y * v.n, v.n, in_line, acc, row);
			for (int i = 0; i < MAX_TAPS; i++) {
				memcpy(mid + i * 3, row, 3);
				memcpy(row + in_line + i * 3, row + in_line - 3, 3);
			}
			horizontal_rgb(mid, &h, pairs, out_width, line);
		} else
#endif
		{
			vertical(rows, v.weight + y * v.n, v.n, in_line, acc, mid);
			horizontal(mid, &h, out_width, bands, line);
		}
		if (vips_image_write_line(*out, y, line))
			goto done;
	}
	r = 0;

done:
	if (region)
		g_object_unref(region);
	g_free(ring);
	g_free(mid);
	g_free(line);
	g_free(acc);
	g_free(pairs);
	g_free(rows);
	free_taps(&h);
	free_taps(&v);
	if (r) {
		g_object_unref(*out);
		*out = NULL;
	}
	return r;
}
