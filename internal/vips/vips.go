// Package vips is the project's one binding to libvips and its only cgo
// package: decode a buffer (shrunk on load, upright, 8-bit sRGB, without
// metadata), resize, crop, animate and encode. The C it needs is in vips.c
// (vips.h says what each function does) and reduce.c, our own lanczos3.
//
// It uses cgo directly rather than govips v2.16 because govips cannot pass
// fail_on=truncated to the loader, cannot materialise an image in memory
// (vips_image_copy_memory, needed to decode once and derive every variant
// from one buffer), cannot block loaders, and its images cannot be shared
// with a second binding.
//
// libvips is process-wide: its threads, its cache and the loaders it may
// run are set once for every caller (Start, EnableLoader). Each decode is
// given the format the caller sniffed, and libvips reads the file with
// that format's loader only.
package vips

/*
#cgo pkg-config: vips
#cgo CFLAGS: -O3
#cgo LDFLAGS: -lm
#include <stdlib.h>
#include "reduce.h"
#include "vips.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/ximagepipeline/ximagepipeline/internal/imagefile"
)

// concurrency is the number of libvips threads per operation: the worker
// pool already runs one job per CPU, and more threads per image only add
// contention.
const concurrency = 1

var (
	startOnce sync.Once
	startErr  error
	started   atomic.Bool // Start succeeded

	// srgb names the profile images with an embedded profile are
	// converted to (srgb.go): ours, or libvips' own "srgb" when it cannot
	// be made a file. Set by Start.
	srgb *C.char

	// loaders guards the set of loaders libvips may run, which only grows
	// (EnableLoader). A decode that lets libvips pick the loader checks the
	// pick and runs it holding loaders for reading, so that the set cannot
	// change between the check and the load.
	loaders sync.RWMutex
	heif    atomic.Bool // libheif's loader is unblocked
)

// Start initialises libvips once per process, and returns the error of
// that one start to every call. It sets concurrency threads per operation,
// disables the operation cache (uploads are never processed twice, and a
// cache would pin their buffers in memory), silences libvips warnings
// (errors are returned, not logged), and blocks every loader except JPEG,
// PNG, WebP and GIF, so that a file that sniffs as an image but is really
// something else (SVG, PDF, TIFF, vips, matrix...) can never reach a
// parser. Everything else in this package calls it first.
func Start() error {
	startOnce.Do(func() {
		if C.xip_start(concurrency) != 0 {
			startErr = vipsError("start libvips")
			return
		}
		name := profileFile(srgbProfile())
		if name == "" {
			name = "srgb"
		}
		srgb = C.CString(name) // for the life of the process
		started.Store(true)
	})
	return startErr
}

// profileName is the name libvips opens the sRGB profile by (tests).
func profileName() string { return C.GoString(srgb) }

// EnableLoader lets libvips run the loader of format for the rest of the
// process. JPEG, PNG, WebP and GIF run from Start; "avif" and "heic" share
// libheif's loader (a large attack surface), blocked until a caller needs
// it. The switch is process-wide: a caller that must not decode a format
// refuses it before calling ReadHeader or Decode.
func EnableLoader(format string) error {
	if err := Start(); err != nil {
		return err
	}
	switch format {
	case "jpeg", "png", "webp", "gif":
		return nil
	case "avif", "heic":
		if heif.Load() {
			return nil // every processor allowing AVIF enables it again
		}
		loaders.Lock()
		defer loaders.Unlock()
		if !heif.Load() {
			C.xip_allow_heif()
			heif.Store(true)
		}
		return nil
	}
	return fmt.Errorf("vips: no loader for format %q", format)
}

// formatCodes are the C formats (vips.h) by name.
var formatCodes = map[string]C.int{
	"jpeg": C.XIP_JPEG, "png": C.XIP_PNG, "webp": C.XIP_WEBP, "gif": C.XIP_GIF, "avif": C.XIP_AVIF, "heic": C.XIP_HEIC,
}

func formatCode(step, format string) (C.int, error) {
	code, ok := formatCodes[format]
	if !ok {
		return 0, errors.New(step + ": unknown format " + format)
	}
	return code, nil
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

// Buffer is a copy of an encoded image in C memory: libvips keeps pointing
// into the buffer while a lazy pipeline runs, which Go memory must not
// allow. Free it once every image decoded from it is closed.
type Buffer struct {
	p unsafe.Pointer
	n C.size_t
}

// NewBuffer copies b into C memory.
func NewBuffer(b []byte) Buffer { return Buffer{C.CBytes(b), C.size_t(len(b))} }

// Free releases the copy.
func (b Buffer) Free() { C.free(b.p) }

// Header is what libvips reads from a file's header, without decoding.
type Header struct {
	Width, Height, Bands int
	Pages                int // frames; 1 for a still
	Orientation          int // EXIF orientation, 1 when absent
	HasICC, HasAlpha     bool
	EightBit             bool   // 8 bits per sample
	Interpretation       string // libvips' nick: srgb, b-w, cmyk, rgb16, grey16...
}

// ReadHeader reads the header of buf, a file of format, with that format's
// loader.
func ReadHeader(buf Buffer, format string) (Header, error) {
	if err := Start(); err != nil {
		return Header{}, err
	}
	code, err := formatCode("read header", format)
	if err != nil {
		return Header{}, err
	}
	var h C.header_info
	if C.read_header(code, buf.p, buf.n, &h) != 0 {
		return Header{}, vipsError("read header")
	}
	return Header{
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

// Image owns one reference to a VipsImage: Close it once, and Ref it for
// every further owner.
type Image struct{ p *C.VipsImage }

func (im Image) Close()      { C.g_object_unref(C.gpointer(im.p)) }
func (im Image) Ref()        { C.g_object_ref(C.gpointer(im.p)) }
func (im Image) Width() int  { return int(C.vips_image_get_width(im.p)) }
func (im Image) Height() int { return int(C.vips_image_get_height(im.p)) }
func (im Image) Bands() int  { return int(C.vips_image_get_bands(im.p)) }

// Colour says how a decode reaches sRGB.
type Colour int

const (
	PlainRGB   Colour = 0 // no profile: libvips converts greyscale and 16-bit
	ICCProfile Colour = 1 // through the embedded profile
	CMYK       Colour = 2 // through the CMYK profile, embedded or libvips' own
)

// ColourOf is how a file with header h gets to sRGB: through its CMYK or
// embedded profile when it has one.
func ColourOf(h Header) Colour {
	switch {
	case h.Interpretation == "cmyk":
		return CMYK
	case h.HasICC:
		return ICCProfile
	}
	return PlainRGB
}

// Animation describes the frames of a decoded animation: Pages frames of
// PageHeight stacked in one image, shown for Delays ms each.
type Animation struct {
	Pages, PageHeight int
	Delays            []int
	Loop              int // 0: forever
}

// Decode loads buf, a file of format, shrunk on load to the given width
// (height unbounded), upright, in 8-bit sRGB, without metadata, and fully
// decoded in memory so that all later steps read pixels and never the
// source again. A file cut short fails here.
func Decode(buf Buffer, format string, width int, colour Colour) (Image, error) {
	img, _, err := DecodeFrames(buf, format, width, colour, 1)
	return img, err
}

// DecodeFrames is Decode for the first pages frames of an animation,
// stacked top to bottom, each shrunk alike; with pages 1, or for a still,
// it is Decode.
func DecodeFrames(buf Buffer, format string, width int, colour Colour, pages int) (Image, Animation, error) {
	return decodeWith(buf, format, width, colour, pages, true)
}

// decodeWith is DecodeFrames, with the fast paths for plain JPEGs and
// 8-bit PNGs (load_jpeg, load_png) or (for tests, to compare) without.
func decodeWith(buf Buffer, format string, width int, colour Colour, pages int, fast bool) (Image, Animation, error) {
	if err := Start(); err != nil {
		return Image{}, Animation{}, err
	}
	code, err := formatCode("decode", format)
	if err != nil {
		return Image{}, Animation{}, err
	}
	var thumb, srgb8, bare *C.VipsImage
	if colour == CMYK {
		var full *C.VipsImage
		if C.load_cmyk(code, buf.p, buf.n, C.int(width), srgb, &full) != 0 {
			return Image{}, Animation{}, vipsError("decode")
		}
		defer C.g_object_unref(C.gpointer(full))
		scale := C.double(float64(width) / float64(C.vips_image_get_width(full)))
		if C.resize(full, &thumb, scale, scale) != 0 {
			return Image{}, Animation{}, vipsError("resize")
		}
	} else {
		r := C.int(1) // 1: load_jpeg or load_png does not take it
		if fast && colour == PlainRGB && pages <= 1 {
			switch format {
			case "jpeg":
				r = C.load_jpeg(buf.p, buf.n, C.int(width), &thumb)
			case "png":
				r = C.load_png(buf.p, buf.n, C.int(width), &thumb)
			}
		}
		if r < 0 {
			return Image{}, Animation{}, vipsError("decode")
		}
		if r > 0 {
			if err := thumbnail(buf, code, width, colour, pages, &thumb); err != nil {
				return Image{}, Animation{}, err
			}
		}
	}
	defer C.g_object_unref(C.gpointer(thumb))
	anim := readAnimation(thumb)
	if C.to_srgb8(thumb, &srgb8) != 0 {
		return Image{}, Animation{}, vipsError("convert to sRGB")
	}
	defer C.g_object_unref(C.gpointer(srgb8))
	if C.strip_copy(srgb8, &bare) != 0 {
		return Image{}, Animation{}, vipsError("remove metadata")
	}
	defer C.g_object_unref(C.gpointer(bare))
	mem := C.vips_image_copy_memory(bare) // pixels are decoded here: truncation fails now
	if mem == nil {
		return Image{}, Animation{}, vipsError("decode")
	}
	return Image{mem}, anim, nil
}

// thumbnail runs vips_thumbnail_buffer, whose shrink-on-load and colour
// management the other paths do not repeat. It picks its loader by libvips'
// own content detection, so the pick is checked first: a file whose bytes
// libvips would read as another format than the caller sniffed is refused,
// and the loader set cannot change between the check and the load.
func thumbnail(buf Buffer, format C.int, width int, colour Colour, pages int, out **C.VipsImage) error {
	loaders.RLock()
	defer loaders.RUnlock()
	var other *C.char
	switch C.xip_detected(format, buf.p, buf.n, &other) {
	case -1:
		return vipsError("decode")
	case 0:
		return fmt.Errorf("decode: libvips would read the file with %s", C.GoString(other))
	}
	if C.thumbnail(buf.p, buf.n, C.int(width), C.VIPS_MAX_COORD, C.int(colour), srgb, C.int(pages), out) != 0 {
		return vipsError("decode")
	}
	return nil
}

// readAnimation reads the frame layout and timing of a decoded image,
// before strip_copy removes them.
func readAnimation(im *C.VipsImage) Animation {
	var a C.anim_info
	C.read_anim(im, &a)
	ph := max(1, int(a.page_height))
	anim := Animation{Pages: int(C.vips_image_get_height(im)) / ph, PageHeight: ph, Loop: int(a.loop)}
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

// Resize scales im to width x height. A reduction of an 8-bit RGB or RGBA
// image, the common case, runs our own lanczos3 (reduce.c: twice as fast
// as libvips 8.14's for RGB, 20 times for RGBA, which libvips reduces in
// float); the rest (enlargements, grey with alpha) goes to vips_resize,
// alpha premultiplied first.
func (im Image) Resize(width, height int) (Image, error) {
	var out *C.VipsImage
	if C.can_reduce(im.p, C.int(width), C.int(height)) != 0 {
		if C.lanczos_reduce(im.p, C.int(width), C.int(height), &out) != 0 {
			return Image{}, vipsError("resize")
		}
		return Image{out}, nil
	}
	return im.vipsResize(width, height)
}

// vipsResize is Resize by vips_resize alone.
func (im Image) vipsResize(width, height int) (Image, error) {
	var out *C.VipsImage
	h := float64(width) / float64(im.Width())
	v := float64(height) / float64(im.Height())
	if C.resize(im.p, &out, C.double(h), C.double(v)) != 0 {
		return Image{}, vipsError("resize")
	}
	return Image{out}, nil
}

// Materialise computes the image into memory, so that later steps read
// its pixels instead of running its pipeline again.
func (im Image) Materialise() (Image, error) {
	mem := C.vips_image_copy_memory(im.p)
	if mem == nil {
		return Image{}, vipsError("materialise")
	}
	return Image{mem}, nil
}

// Crop returns the width x height area at (left, top).
func (im Image) Crop(left, top, width, height int) (Image, error) {
	var out *C.VipsImage
	if C.extract_area(im.p, &out, C.int(left), C.int(top), C.int(width), C.int(height)) != 0 {
		return Image{}, vipsError("crop")
	}
	return Image{out}, nil
}

// FlattenWhite blends the alpha of an image with 4 bands onto white, as a
// page would show it.
func (im Image) FlattenWhite() (Image, error) {
	var out *C.VipsImage
	if C.flatten_white(im.p, &out) != 0 {
		return Image{}, vipsError("flatten")
	}
	return Image{out}, nil
}

// Animate returns the image, a (the frames stacked), marked so that
// Encode writes an animation (WebP, GIF).
func (im Image) Animate(a Animation) (Image, error) {
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
		return Image{}, vipsError("animate")
	}
	return Image{out}, nil
}

// JoinFrames stacks frames of the same size top to bottom.
func JoinFrames(frames []Image) (Image, error) {
	ps := C.malloc(C.size_t(len(frames)) * C.size_t(unsafe.Sizeof((*C.VipsImage)(nil))))
	defer C.free(ps)
	arr := unsafe.Slice((**C.VipsImage)(ps), len(frames))
	for i, f := range frames {
		arr[i] = f.p
	}
	var out *C.VipsImage
	if C.join_frames((**C.VipsImage)(ps), C.int(len(frames)), &out) != 0 {
		return Image{}, vipsError("join frames")
	}
	return Image{out}, nil
}

// Pixels returns the raw interleaved 8-bit samples, Bands() per pixel.
func (im Image) Pixels() ([]byte, error) {
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
func (im Image) Encode(format string, q, effort int) ([]byte, error) {
	return im.EncodeWithin(format, q, effort, math.MaxInt64)
}

// ErrEncodingTooLarge is EncodeWithin's answer when the encoding would pass
// its limit.
var ErrEncodingTooLarge = errors.New("encoding over its size limit")

// EncodeWithin is Encode for an output that must not pass limit bytes: the
// encoder writes into a bounded target and stops at its first write past
// the limit (ErrEncodingTooLarge), rather than finishing a file of any size
// in memory first. libvips 8.14's JPEG, PNG and GIF savers write as they
// go; its WebP and HEIF savers write once at the end, so for those the
// limit bounds the result, not the work.
func (im Image) EncodeWithin(format string, q, effort int, limit int64) ([]byte, error) {
	code, err := formatCode("encode", format)
	if err != nil {
		return nil, err
	}
	b := (*C.bounded)(C.calloc(1, C.sizeof_bounded))
	defer C.free(unsafe.Pointer(b))
	b.limit = C.size_t(limit)
	r := C.save_bounded(im.p, code, C.int(q), C.int(effort), b)
	defer C.g_free(C.gpointer(b.data))
	if b.over != 0 {
		C.vips_error_clear()
		return nil, ErrEncodingTooLarge
	}
	if r != 0 {
		return nil, vipsError("encode " + format)
	}
	data := append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(b.data)), int(b.len))...) // any size, unlike GoBytes
	if format == "webp" {
		// libvips 8.14 ignores strip in webpsave and writes an EXIF chunk
		// it builds from the resolution fields (libvips issue 3340).
		return imagefile.StripWebP(data)
	}
	return data, nil
}

// Memory reports the bytes libvips has allocated for pixels now, and the
// most it has held at once since start-up (for metrics); 0 before Start,
// which an API-only server never calls.
func Memory() (current, peak int64) {
	if !started.Load() {
		return 0, 0
	}
	return int64(C.vips_tracked_get_mem()), int64(C.vips_tracked_get_mem_highwater())
}
