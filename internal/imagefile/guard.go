package imagefile

import (
	"bytes"
	"encoding/binary"
)

// Limits checked on the source's bytes before libvips sees them. Each one
// stops a small file that would cost far more than its pixels suggest
// (docs/imaging.md, hostile input); a file over one is ErrUndecodable.
const (
	// MaxJPEGScans bounds the scans of a progressive JPEG. libjpeg runs
	// through the whole image once per scan: a few hundred KB of repeated
	// scans cost minutes of CPU at 100 megapixels. Encoders write 10 to 20.
	MaxJPEGScans = 100
	// MaxWebPFrames bounds the frames of an animated WebP: libwebp's
	// demuxer takes time that grows with the square of their number (11 s
	// for 100,000 one-pixel frames). libvips reads at most 4,096 frames of
	// a GIF.
	MaxWebPFrames = 4096
	// MaxPNGSide is libvips' limit on a side (VIPS_MAX_COORD), which it
	// sets as libpng's: past it libpng only warns, and libvips fails
	// without a message. Other formats cannot say more than 65,535.
	MaxPNGSide = 10_000_000
)

// Guard checks the limits above on src, a file sniffed as format (a
// media.Format name), and returns what the decoder is given instead:
// src itself, or for PNG a copy without text chunks (tEXt, zTXt, iTXt),
// which are metadata only and which libpng inflates into memory whole: a
// few hundred 10 KB zTXt chunks made gigabytes.
func Guard(format string, src []byte) ([]byte, error) {
	if format == "jpeg" {
		if n := countJPEGScans(src); n > MaxJPEGScans {
			return nil, Undecodable("progressive JPEG with %d scans (at most %d)", n, MaxJPEGScans)
		}
		return src, nil
	}
	if format != "png" && format != "webp" {
		return src, nil
	}
	// The upload's header reader, over the whole file: its frame count is
	// exact. A header it cannot read is left to libvips to report.
	if h, err := readHeader(bytes.NewReader(src), int64(len(src))); err == nil {
		switch {
		case format == "webp" && h.Frames > MaxWebPFrames:
			return nil, Undecodable("animated WebP with %d frames (at most %d)", h.Frames, MaxWebPFrames)
		case format == "png" && (h.Width > MaxPNGSide || h.Height > MaxPNGSide):
			return nil, Undecodable("PNG of %dx%d (libvips decodes at most %d pixels a side)", h.Width, h.Height, MaxPNGSide)
		}
	}
	if format == "png" {
		return withoutPNGText(src), nil
	}
	return src, nil
}

// countJPEGScans counts the start-of-scan markers of a JPEG the way
// libjpeg finds them: segments are skipped by their length, each scan's
// entropy-coded data up to the next marker (in it 0xFF is followed by 0x00
// or a restart marker), stray bytes between segments are passed over (libjpeg
// only warns about them), and TEM, restart, SOI markers have no length. It
// stops at the end of the image.
func countJPEGScans(src []byte) int {
	scans := 0
	for i := 2; i+1 < len(src); {
		if src[i] != 0xFF { // stray bytes
			j := bytes.IndexByte(src[i:], 0xFF)
			if j < 0 {
				return scans
			}
			i += j
			continue
		}
		marker := src[i+1]
		switch {
		case marker == 0xFF: // fill byte
			i++
			continue
		case marker == 0xD9: // end of image
			return scans
		case marker == 0x00, marker == 0x01, marker >= 0xD0 && marker <= 0xD8: // no length
			i += 2
			continue
		}
		if i+4 > len(src) {
			return scans
		}
		i += 2 + int(binary.BigEndian.Uint16(src[i+2:]))
		if marker != 0xDA {
			continue
		}
		scans++
		// The entropy-coded data runs to the next 0xFF that is not
		// followed by 0x00 or a restart marker (IndexByte is vectorised:
		// this pass is in every job).
		for i < len(src) {
			j := bytes.IndexByte(src[i:], 0xFF)
			if j < 0 || i+j+1 >= len(src) {
				return scans
			}
			i += j
			if next := src[i+1]; next != 0x00 && (next < 0xD0 || next > 0xD7) {
				break
			}
			i += 2
		}
	}
	return scans
}

// withoutPNGText returns src without its text chunks, or src itself when it
// has none or its chunks cannot be walked (the decoder then reports it).
func withoutPNGText(src []byte) []byte {
	var out []byte
	i := len(pngSignature)
	for i+12 <= len(src) {
		n := int(binary.BigEndian.Uint32(src[i:]))
		end := i + 12 + n
		if n < 0 || end > len(src) || end < i {
			break
		}
		switch string(src[i+4 : i+8]) {
		case "tEXt", "zTXt", "iTXt":
			if out == nil {
				out = append(make([]byte, 0, len(src)), src[:i]...)
			}
		default:
			if out != nil {
				out = append(out, src[i:end]...)
			}
		}
		i = end
	}
	if out == nil {
		return src
	}
	return append(out, src[min(i, len(src)):]...) // whatever could not be walked, as it was
}
