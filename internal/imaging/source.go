package imaging

import (
	"fmt"

	"github.com/ximagepipeline/ximagepipeline/internal/imagefile"
	"github.com/ximagepipeline/ximagepipeline/internal/vips"
	"github.com/ximagepipeline/ximagepipeline/media"
)

// source is an upload opened for libvips: its format, what the guards let
// through in C memory, and libvips' reading of its header.
type source struct {
	format media.Format
	buf    vips.Buffer
	h      vips.Header
}

func (s *source) close() { s.buf.Free() }

// heifCodecFormats are the formats whose decoders libheif runs for the
// item types imagefile.HEIFCodecs finds.
var heifCodecFormats = map[string]string{"av01": "avif", "hvc1": "heic", "hev1": "heic"}

// open checks that src is a type this processor decodes, runs the guards
// on its bytes and reads its header with that type's loader (never another
// one libvips would pick from the bytes), then refuses a source over
// MaxPixels. Everything it refuses is refused before libvips decodes a
// pixel. Errors wrap ErrUndecodable or ErrTooManyPixels.
func (p *Processor) open(src []byte) (*source, error) {
	mime := imagefile.Sniff(src)
	format, ok := media.FormatOf(mime)
	if !ok || !format.Input {
		return nil, imagefile.Undecodable("unsupported type %s", mime)
	}
	if !p.allowed[format.Name] {
		return nil, imagefile.Undecodable("%s input is not enabled", format.Name)
	}
	// AVIF and HEIC share libheif's loader, but not its decoders, and
	// libheif picks the decoder of each image by its item type, whatever
	// the brands that Sniff reads: a file reaches only the decoders of the
	// types this processor allows.
	if format.Name == "avif" || format.Name == "heic" {
		for _, codec := range imagefile.HEIFCodecs(src) {
			if !p.allowed[heifCodecFormats[codec]] {
				return nil, imagefile.Undecodable("%s file coded as %s, which is not enabled", format.Name, codec)
			}
		}
	}
	guarded, err := imagefile.Guard(format.Name, src)
	if err != nil {
		return nil, err
	}
	s := &source{format: format, buf: vips.NewBuffer(guarded)}
	if s.h, err = vips.ReadHeader(s.buf, format.Name); err != nil {
		s.close()
		return nil, imagefile.Undecodable("%v", err)
	}
	frames := int64(max(s.h.Pages, 1))
	if limit := p.cfg.MaxPixels; limit > 0 && int64(s.h.Width)*int64(s.h.Height)*frames > limit {
		s.close()
		return nil, fmt.Errorf("%w: %dx%d x %d frames", ErrTooManyPixels, s.h.Width, s.h.Height, frames)
	}
	return s, nil
}
