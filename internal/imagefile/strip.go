package imagefile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// StripMetadata removes metadata from an encoded image without touching
// its pixels: it is much faster than decoding and re-encoding, and
// lossless. It only removes; callers must know the pixels need no change
// (upright, 8-bit sRGB, no ICC profile).
func StripMetadata(format string, src []byte) ([]byte, error) {
	switch format {
	case "jpeg":
		return stripJPEG(src)
	case "png":
		return stripPNG(src)
	case "webp":
		return StripWebP(src)
	case "gif":
		return stripGIF(src)
	}
	return nil, fmt.Errorf("strip metadata: unsupported format %s", format)
}

var errStructure = errors.New("strip metadata: unexpected file structure")

// stripJPEG keeps SOI, the segments a decoder needs, APP0 JFIF and APP14
// Adobe (it says how to read the colour channels), the scans, and EOI.
// Other APPn (EXIF, XMP, ICC, IPTC/Photoshop, maker data) and COM go, and
// so does anything after EOI (phone makers' trailers).
func stripJPEG(src []byte) ([]byte, error) {
	if len(src) < 4 || src[0] != 0xFF || src[1] != 0xD8 {
		return nil, errStructure
	}
	out := make([]byte, 0, len(src))
	out = append(out, 0xFF, 0xD8)
	i := 2
	for {
		// Markers may be preceded by fill bytes 0xFF.
		for i+1 < len(src) && src[i] == 0xFF && src[i+1] == 0xFF {
			i++
		}
		if i+1 >= len(src) || src[i] != 0xFF {
			return nil, errStructure
		}
		marker := src[i+1]
		if marker == 0xD9 { // EOI
			return append(out, 0xFF, 0xD9), nil
		}
		if i+4 > len(src) {
			return nil, errStructure
		}
		end := i + 2 + int(binary.BigEndian.Uint16(src[i+2:]))
		if end > len(src) || end < i+4 {
			return nil, errStructure
		}
		if keepJPEGSegment(marker, src[i+4:end]) {
			out = append(out, src[i:end]...)
		}
		i = end
		if marker == 0xDA { // SOS: entropy-coded data follows up to the next marker
			j := i
			for j+1 < len(src) && (src[j] != 0xFF || src[j+1] == 0x00 || (src[j+1] >= 0xD0 && src[j+1] <= 0xD7)) {
				j++
			}
			if j+1 >= len(src) {
				return nil, errStructure // truncated: no EOI
			}
			out = append(out, src[i:j]...)
			i = j
		}
	}
}

func keepJPEGSegment(marker byte, payload []byte) bool {
	switch {
	case marker == 0xE0:
		return bytes.HasPrefix(payload, []byte("JFIF\x00"))
	case marker == 0xEE:
		return bytes.HasPrefix(payload, []byte("Adobe"))
	case marker >= 0xE1 && marker <= 0xEF, marker == 0xFE:
		return false
	}
	return true
}

// pngKeep lists the PNG chunks that change how pixels look; everything
// else (tEXt, zTXt, iTXt, eXIf, tIME, iCCP, private chunks) goes.
var pngKeep = map[string]bool{
	"IHDR": true, "PLTE": true, "IDAT": true, "IEND": true, "tRNS": true,
	"gAMA": true, "cHRM": true, "sRGB": true, "sBIT": true, "bKGD": true,
	"pHYs": true, "acTL": true, "fcTL": true, "fdAT": true,
}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

func stripPNG(src []byte) ([]byte, error) {
	if !bytes.HasPrefix(src, pngSignature) {
		return nil, errStructure
	}
	out := append(make([]byte, 0, len(src)), pngSignature...)
	for i := len(pngSignature); i+12 <= len(src); {
		n := int(binary.BigEndian.Uint32(src[i:]))
		end := i + 12 + n
		if n < 0 || end > len(src) || end < i {
			return nil, errStructure
		}
		typ := string(src[i+4 : i+8])
		if pngKeep[typ] {
			out = append(out, src[i:end]...)
		}
		if typ == "IEND" {
			return out, nil
		}
		i = end
	}
	return nil, errStructure
}

// StripWebP keeps only the chunks that make the image (VP8X, VP8, VP8L,
// ALPH, ANIM, ANMF) and clears the EXIF, XMP and ICC flags in VP8X: EXIF,
// XMP and anything unknown (a chunk can carry any payload, a script
// included) is dropped. ICC profiles are only seen here when absent (see
// imaging.Process). The libvips binding also runs every WebP it encodes
// through it (libvips 8.14 writes an EXIF chunk despite strip).
func StripWebP(src []byte) ([]byte, error) {
	if len(src) < 12 || string(src[0:4]) != "RIFF" || string(src[8:12]) != "WEBP" {
		return nil, errStructure
	}
	out := append(make([]byte, 0, len(src)), src[:12]...)
	vp8x := -1
	for i := 12; i+8 <= len(src); {
		n := int(binary.LittleEndian.Uint32(src[i+4:]))
		end := i + 8 + n + n&1 // chunks are padded to even sizes
		if n < 0 || end > len(src) || end < i {
			return nil, errStructure
		}
		switch string(src[i : i+4]) {
		case "VP8X":
			vp8x = len(out)
			out = append(out, src[i:end]...)
		case "VP8 ", "VP8L", "ALPH", "ANIM", "ANMF":
			out = append(out, src[i:end]...)
		}
		i = end
	}
	if vp8x >= 0 && vp8x+8 < len(out) {
		out[vp8x+8] &^= 0x08 | 0x04 | 0x20 // EXIF, XMP, ICC flags
	}
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
	return out, nil
}

// stripGIF removes comment extensions and application extensions other
// than the looping ones (XMP is stored as an application extension).
func stripGIF(src []byte) ([]byte, error) {
	if len(src) < 13 || !bytes.HasPrefix(src, []byte("GIF8")) {
		return nil, errStructure
	}
	i := 13
	if src[10]&0x80 != 0 { // global colour table
		i += 3 << (src[10]&7 + 1)
	}
	if i > len(src) {
		return nil, errStructure
	}
	out := append(make([]byte, 0, len(src)), src[:i]...)
	for i < len(src) {
		start := i
		switch src[i] {
		case 0x3B: // trailer
			return append(out, 0x3B), nil
		case 0x21: // extension: label, then sub-blocks
			if i+2 > len(src) {
				return nil, errStructure
			}
			label := src[i+1]
			end, ok := skipSubBlocks(src, i+2)
			if !ok {
				return nil, errStructure
			}
			keep := label != 0xFE
			if label == 0xFF {
				app := src[i+2 : min(end, i+3+11)]
				keep = bytes.Contains(app, []byte("NETSCAPE2.0")) || bytes.Contains(app, []byte("ANIMEXTS1.0"))
			}
			if keep {
				out = append(out, src[start:end]...)
			}
			i = end
		case 0x2C: // image: descriptor, local colour table, LZW size, data
			if i+10 > len(src) {
				return nil, errStructure
			}
			j := i + 10
			if src[i+9]&0x80 != 0 {
				j += 3 << (src[i+9]&7 + 1)
			}
			end, ok := skipSubBlocks(src, j+1)
			if !ok {
				return nil, errStructure
			}
			out = append(out, src[start:end]...)
			i = end
		default:
			return nil, errStructure
		}
	}
	return nil, errStructure
}

// skipSubBlocks returns the index after the block terminator of the
// sub-block chain starting at i.
func skipSubBlocks(src []byte, i int) (int, bool) {
	for i < len(src) {
		n := int(src[i])
		i += 1 + n
		if n == 0 {
			return i, i <= len(src)
		}
	}
	return 0, false
}
