package imaging

/*
#cgo pkg-config: vips
#include <vips/vips.h>

// flatten_white blends alpha onto white, as a page would show the image:
// a JPEG has no alpha, and libvips' own flattening uses black.
static int flatten_white(VipsImage *in, VipsImage **out) {
	VipsArrayDouble *bg = vips_array_double_newv(3, 255.0, 255.0, 255.0);
	int r = vips_flatten(in, out, "background", bg, NULL);
	vips_area_unref(VIPS_AREA(bg));
	return r;
}
*/
import "C"

import (
	"fmt"
	"math"
)

// moderationQuality is the JPEG quality of the image given to moderation:
// plenty for a classifier, a few tens of kilobytes at 512 px.
const moderationQuality = 85

// ModerationImage returns what a content moderator is shown: the image
// upright (EXIF orientation applied), in 8-bit sRGB, alpha blended onto
// white, shrunk (never enlarged) so that its longest side is at most
// maxSide, as a JPEG of quality 85 without any metadata. Animated images
// give their first frame. Errors wrap ErrUndecodable when retrying cannot
// help, ErrTooManyPixels over maxPixels (0: no limit).
func ModerationImage(src []byte, maxSide int, maxPixels int64) ([]byte, error) {
	cfg, err := ready()
	if err != nil {
		return nil, err
	}
	if maxSide < 1 {
		return nil, fmt.Errorf("imaging: moderation image size %d must be at least 1", maxSide)
	}
	_, buf, h, err := openSource(cfg, src)
	if err != nil {
		return nil, err
	}
	defer buf.free()
	if err := checkPixels(h, maxPixels); err != nil {
		return nil, err
	}
	w, ht := h.Width, h.Height
	if h.Orientation >= 5 { // 5-8 swap the axes
		w, ht = ht, w
	}
	// decode bounds the width only: for a portrait image, pick the width
	// that makes the height maxSide.
	width := min(w, maxSide)
	if ht > w && ht > maxSide {
		width = max(1, int(math.Floor(float64(w)*float64(maxSide)/float64(ht))))
	}
	colour := colourOf(h)
	img, err := decode(buf, width, colour)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUndecodable, err)
	}
	defer func() { img.Close() }()
	if img.Bands() == 4 {
		var flat *C.VipsImage
		if C.flatten_white(img.p, &flat) != 0 {
			return nil, vipsError("flatten")
		}
		img.Close()
		img = vimage{flat}
	}
	return img.Encode("jpeg", moderationQuality, 0)
}
