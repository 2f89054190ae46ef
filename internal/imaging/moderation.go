package imaging

import (
	"fmt"
	"math"

	"github.com/ximagepipeline/ximagepipeline/internal/imagefile"
	"github.com/ximagepipeline/ximagepipeline/internal/vips"
)

// moderationQuality is the JPEG quality of the image given to moderation:
// plenty for a classifier, a few tens of kilobytes at 512 px.
const moderationQuality = 85

// ModerationImage returns what a content moderator is shown: the image
// upright (EXIF orientation applied), in 8-bit sRGB, alpha blended onto
// white, shrunk (never enlarged) so that its longest side is at most
// maxSide, as a JPEG of quality 85 without any metadata. Animated images
// give their first frame. It refuses what Process refuses before decoding:
// errors wrap ErrUndecodable when retrying cannot help, ErrTooManyPixels
// over the processor's MaxPixels.
func (p *Processor) ModerationImage(src []byte, maxSide int) ([]byte, error) {
	if maxSide < 1 {
		return nil, fmt.Errorf("imaging: moderation image size %d must be at least 1", maxSide)
	}
	s, err := p.open(src)
	if err != nil {
		return nil, err
	}
	defer s.close()
	w, ht := s.h.Width, s.h.Height
	if s.h.Orientation >= 5 { // 5-8 swap the axes
		w, ht = ht, w
	}
	// Decode bounds the width only: for a portrait image, pick the width
	// that makes the height maxSide.
	width := min(w, maxSide)
	if ht > w && ht > maxSide {
		width = max(1, int(math.Floor(float64(w)*float64(maxSide)/float64(ht))))
	}
	img, err := vips.Decode(s.buf, s.format.Name, width, vips.ColourOf(s.h))
	if err != nil {
		return nil, imagefile.Undecodable("%v", err)
	}
	defer func() { img.Close() }()
	if img.Bands() == 4 {
		flat, err := img.FlattenWhite()
		if err != nil {
			return nil, err
		}
		img.Close()
		img = flat
	}
	return img.Encode("jpeg", moderationQuality, 0)
}
