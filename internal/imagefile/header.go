package imagefile

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/ximagepipeline/ximagepipeline/media"
)

// ErrBadHeader is returned by ReadHeader when it cannot find an image's
// dimensions: not a supported image, or a broken or truncated header.
var ErrBadHeader = errors.New("imagefile: no image dimensions in header")

// MaxHeaderRead is the most ReadHeader reads. Dimensions sit in the first
// bytes of every format; only large JPEG APPn segments (EXIF thumbnails,
// ICC profiles, Photoshop data) or HEIF meta boxes push them further.
const MaxHeaderRead = 1 << 20

// Header holds what an image header says, before any pixel is decoded.
type Header struct {
	Format        string // jpeg png webp gif avif heic
	Width, Height int    // as stored, before EXIF orientation
	Frames        int    // 1 unless animated
}

// ReadHeader reads only the header of an image, in pure Go, so that an
// upload can be refused (decompression bombs, 64000x64000 pixels in a few
// bytes) in microseconds, before libvips sees it. It reads from r in 4 KiB
// blocks, no more than it needs, and never more than MaxHeaderRead bytes.
//
// Frames counts GIF image descriptors, WebP ANMF chunks and the APNG acTL
// frame count; for GIF and WebP it is a lower bound when the frames do not
// all fit within MaxHeaderRead. AVIF and HEIC report 1 frame.
func ReadHeader(r io.Reader) (Header, error) { return readHeader(r, MaxHeaderRead) }

// readHeader is ReadHeader reading at most limit bytes; given a whole file
// as the limit, its frame counts are exact.
func readHeader(r io.Reader, limit int64) (Header, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, limit), 4096)
	head, _ := br.Peek(sniffLen)
	hr := headerReader{br, limit}
	var h Header
	var err error
	switch Sniff(head) {
	case "image/jpeg":
		h, err = hr.jpeg()
	case "image/png":
		h, err = hr.png()
	case "image/gif":
		h, err = hr.gif()
	case "image/webp":
		h, err = hr.webp()
	case "image/avif", "image/heic":
		h, err = hr.heif()
		f, _ := media.FormatOf(Sniff(head))
		h.Format = f.Name
	default:
		return Header{}, fmt.Errorf("%w: not a supported image (%s)", ErrBadHeader, Sniff(head))
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return Header{}, fmt.Errorf("%w: %s header truncated or beyond %d bytes", ErrBadHeader, h.Format, limit)
	}
	if err != nil {
		return Header{}, err
	}
	if h.Width <= 0 || h.Height <= 0 {
		return Header{}, fmt.Errorf("%w: %s header has no dimensions", ErrBadHeader, h.Format)
	}
	h.Frames = max(1, h.Frames)
	return h, nil
}

type headerReader struct {
	*bufio.Reader
	limit int64 // the most it reads
}

func (r headerReader) bytes(n int) ([]byte, error) {
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return b, err
}

func (r headerReader) skip(n int64) error {
	if n < 0 || n > r.limit {
		return io.ErrUnexpectedEOF
	}
	_, err := r.Discard(int(n))
	return err
}

func badHeader(format, why string) error {
	return fmt.Errorf("%w: %s: %s", ErrBadHeader, format, why)
}

// jpeg walks the marker segments up to the first SOFn, skipping APPn
// segments of any size.
func (r headerReader) jpeg() (Header, error) {
	h := Header{Format: "jpeg"}
	if err := r.skip(2); err != nil {
		return h, err
	}
	for {
		b, err := r.ReadByte()
		if err != nil {
			return h, err
		}
		if b != 0xFF {
			return h, badHeader("jpeg", "marker expected")
		}
		m := byte(0xFF)
		for m == 0xFF { // fill bytes
			if m, err = r.ReadByte(); err != nil {
				return h, err
			}
		}
		switch {
		case m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7): // no length
			continue
		case m == 0xD9 || m == 0xDA:
			return h, badHeader("jpeg", "no SOF marker before the image data")
		}
		lb, err := r.bytes(2)
		if err != nil {
			return h, err
		}
		n := int(binary.BigEndian.Uint16(lb)) - 2
		if n < 0 {
			return h, badHeader("jpeg", "bad segment length")
		}
		if m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC {
			sof, err := r.bytes(5) // precision, height, width
			if err != nil {
				return h, err
			}
			h.Height = int(binary.BigEndian.Uint16(sof[1:]))
			h.Width = int(binary.BigEndian.Uint16(sof[3:]))
			return h, nil
		}
		if err := r.skip(int64(n)); err != nil {
			return h, err
		}
	}
}

// png reads IHDR, then the chunks before the first IDAT for an APNG acTL.
func (r headerReader) png() (Header, error) {
	h := Header{Format: "png", Frames: 1}
	b, err := r.bytes(8 + 8 + 8)
	if err != nil {
		return h, err
	}
	if string(b[12:16]) != "IHDR" {
		return h, badHeader("png", "IHDR expected first")
	}
	h.Width = int(binary.BigEndian.Uint32(b[16:]))
	h.Height = int(binary.BigEndian.Uint32(b[20:]))
	if h.Width > 1<<31-1 || h.Height > 1<<31-1 {
		return h, badHeader("png", "dimensions out of range")
	}
	if err := r.skip(int64(binary.BigEndian.Uint32(b[8:])) - 8 + 4); err != nil {
		return h, err
	}
	for {
		c, err := r.bytes(8)
		if err != nil {
			return h, nil // dimensions known; frames are a bonus
		}
		n := int64(binary.BigEndian.Uint32(c))
		switch string(c[4:]) {
		case "IDAT", "IEND":
			return h, nil
		case "acTL":
			f, err := r.bytes(4)
			if err != nil {
				return h, nil
			}
			h.Frames = int(min(binary.BigEndian.Uint32(f), 1<<20))
			return h, nil
		}
		if r.skip(n+4) != nil {
			return h, nil
		}
	}
}

// gif reads the logical screen size, then counts image descriptors. A
// frame may lie beyond the screen; libvips then decodes the union of both,
// so that is the size.
func (r headerReader) gif() (Header, error) {
	h := Header{Format: "gif"}
	b, err := r.bytes(13)
	if err != nil {
		return h, err
	}
	h.Width = int(binary.LittleEndian.Uint16(b[6:]))
	h.Height = int(binary.LittleEndian.Uint16(b[8:]))
	if b[10]&0x80 != 0 {
		if r.skip(3<<(b[10]&7+1)) != nil {
			return h, nil
		}
	}
	for {
		t, err := r.ReadByte()
		if err != nil || t == 0x3B {
			return h, nil
		}
		switch t {
		case 0x21:
			if r.skip(1) != nil || r.subBlocks() != nil {
				return h, nil
			}
		case 0x2C:
			h.Frames++
			d, err := r.bytes(9) // position, size, flags
			if err != nil {
				return h, nil
			}
			u16 := func(i int) int { return int(binary.LittleEndian.Uint16(d[i:])) }
			h.Width, h.Height = max(h.Width, u16(0)+u16(4)), max(h.Height, u16(2)+u16(6))
			if d[8]&0x80 != 0 && r.skip(3<<(d[8]&7+1)) != nil {
				return h, nil
			}
			if r.skip(1) != nil { // LZW minimum code size
				return h, nil
			}
			if r.subBlocks() != nil {
				return h, nil
			}
		default:
			return h, nil
		}
	}
}

func (r headerReader) subBlocks() error {
	for {
		n, err := r.ReadByte()
		if err != nil || n == 0 {
			return err
		}
		if err := r.skip(int64(n)); err != nil {
			return err
		}
	}
}

// webp reads the first chunk (VP8, VP8L or VP8X) and, for animations,
// counts ANMF chunks.
func (r headerReader) webp() (Header, error) {
	h := Header{Format: "webp", Frames: 1}
	b, err := r.bytes(12 + 8)
	if err != nil {
		return h, err
	}
	size := int64(binary.LittleEndian.Uint32(b[16:]))
	switch string(b[12:16]) {
	case "VP8 ":
		d, err := r.bytes(10)
		if err != nil {
			return h, err
		}
		if !bytes.Equal(d[3:6], []byte{0x9d, 0x01, 0x2a}) {
			return h, badHeader("webp", "bad VP8 start code")
		}
		h.Width = int(binary.LittleEndian.Uint16(d[6:]) & 0x3fff)
		h.Height = int(binary.LittleEndian.Uint16(d[8:]) & 0x3fff)
	case "VP8L":
		d, err := r.bytes(5)
		if err != nil {
			return h, err
		}
		if d[0] != 0x2f {
			return h, badHeader("webp", "bad VP8L signature")
		}
		bits := binary.LittleEndian.Uint32(d[1:])
		h.Width = int(bits&0x3fff) + 1
		h.Height = int(bits>>14&0x3fff) + 1
	case "VP8X":
		d, err := r.bytes(10)
		if err != nil {
			return h, err
		}
		h.Width = int(uint32(d[4])|uint32(d[5])<<8|uint32(d[6])<<16) + 1
		h.Height = int(uint32(d[7])|uint32(d[8])<<8|uint32(d[9])<<16) + 1
		if d[0]&0x02 != 0 { // animation
			h.Frames = r.countANMF(size + size&1 - 10)
		}
	default:
		return h, badHeader("webp", "unknown first chunk "+string(b[12:16]))
	}
	return h, nil
}

func (r headerReader) countANMF(rest int64) int {
	frames := 0
	if r.skip(rest) != nil {
		return frames
	}
	for {
		c, err := r.bytes(8)
		if err != nil {
			return frames
		}
		if string(c[:4]) == "ANMF" {
			frames++
		}
		n := int64(binary.LittleEndian.Uint32(c[4:]))
		if r.skip(n+n&1) != nil {
			return frames
		}
	}
}

// heif finds the top-level meta box and the ispe (image spatial extents)
// property of its primary item.
func (r headerReader) heif() (Header, error) {
	h := Header{Frames: 1}
	for {
		typ, body, err := r.box()
		if err != nil {
			return h, err
		}
		if typ != "meta" {
			if err := r.skip(body); err != nil {
				return h, err
			}
			continue
		}
		meta, err := r.bytes(int(body))
		if err != nil {
			return h, err
		}
		h.Width, h.Height = primaryExtent(meta)
		return h, nil
	}
}

// box reads an ISO-BMFF box header and returns its type and body size.
func (r headerReader) box() (string, int64, error) {
	b, err := r.bytes(8)
	if err != nil {
		return "", 0, err
	}
	size, hdr := int64(binary.BigEndian.Uint32(b)), int64(8)
	if size == 1 {
		l, err := r.bytes(8)
		if err != nil {
			return "", 0, err
		}
		size, hdr = int64(binary.BigEndian.Uint64(l)), 16
	}
	if size < hdr || size-hdr > r.limit {
		return "", 0, badHeader("heif", "box size out of range")
	}
	return string(b[4:8]), size - hdr, nil
}

// primaryExtent parses a meta box body: pitm names the primary item,
// ipco lists properties, ipma associates items with property indexes.
// Without a usable association it returns the largest ispe (grid images
// have one per tile plus one for the whole).
func primaryExtent(meta []byte) (w, h int) {
	if len(meta) < 4 {
		return 0, 0
	}
	primary := -1
	var props [][]byte       // ipco children, 1-based in ipma
	var propTypes []string   // their types
	assoc := map[int][]int{} // item id -> property indexes
	eachBox(meta[4:], func(typ string, body []byte) {
		switch typ {
		case "pitm":
			if len(body) >= 6 && body[0] == 0 {
				primary = int(binary.BigEndian.Uint16(body[4:]))
			} else if len(body) >= 8 {
				primary = int(binary.BigEndian.Uint32(body[4:]))
			}
		case "iprp":
			eachBox(body, func(typ string, body []byte) {
				switch typ {
				case "ipco":
					eachBox(body, func(typ string, body []byte) {
						props = append(props, body)
						propTypes = append(propTypes, typ)
					})
				case "ipma":
					parseIPMA(body, assoc)
				}
			})
		}
	})
	for _, i := range assoc[primary] {
		if i >= 1 && i <= len(props) && propTypes[i-1] == "ispe" && len(props[i-1]) >= 12 {
			return int(binary.BigEndian.Uint32(props[i-1][4:])), int(binary.BigEndian.Uint32(props[i-1][8:]))
		}
	}
	for i, p := range props {
		if propTypes[i] == "ispe" && len(p) >= 12 {
			pw, ph := int(binary.BigEndian.Uint32(p[4:])), int(binary.BigEndian.Uint32(p[8:]))
			if pw*ph > w*h {
				w, h = pw, ph
			}
		}
	}
	return w, h
}

func parseIPMA(b []byte, assoc map[int][]int) {
	if len(b) < 8 {
		return
	}
	version, wide := b[0], b[3]&1 != 0
	count := int(binary.BigEndian.Uint32(b[4:]))
	b = b[8:]
	for range min(count, 1<<16) {
		var item int
		if version < 1 {
			if len(b) < 3 {
				return
			}
			item, b = int(binary.BigEndian.Uint16(b)), b[2:]
		} else {
			if len(b) < 5 {
				return
			}
			item, b = int(binary.BigEndian.Uint32(b)), b[4:]
		}
		n := int(b[0])
		b = b[1:]
		for range n {
			if wide {
				if len(b) < 2 {
					return
				}
				assoc[item] = append(assoc[item], int(binary.BigEndian.Uint16(b)&0x7fff))
				b = b[2:]
			} else {
				if len(b) < 1 {
					return
				}
				assoc[item] = append(assoc[item], int(b[0]&0x7f))
				b = b[1:]
			}
		}
	}
}

// heifCodecs are the item types of coded images that libheif may have a
// decoder for.
var heifCodecs = map[string]bool{
	"av01": true, "hvc1": true, "hev1": true, "avc1": true, "vvc1": true, "evc1": true,
	"jpeg": true, "j2k1": true, "unci": true,
}

// HEIFCodecs returns the codecs of the coded images in a HEIF file (AVIF,
// HEIC), by their item types in the primary meta box: "av01" (AV1),
// "hvc1" (HEVC), ..., each once. libheif decodes every item with the
// decoder of its type, whatever the file's brands say, so this tells which
// decoders a file can reach; the brand (Sniff) does not. It returns nil
// when the file has no readable meta box.
func HEIFCodecs(src []byte) []string {
	var codecs []string
	eachBox(src, func(typ string, body []byte) {
		if typ != "meta" || codecs != nil || len(body) < 4 {
			return
		}
		codecs = []string{}
		eachBox(body[4:], func(typ string, iinf []byte) {
			if typ != "iinf" || len(iinf) < 6 {
				return
			}
			entries := iinf[6:] // version, flags, 16-bit entry count
			if iinf[0] != 0 {
				entries = iinf[min(8, len(iinf)):] // 32-bit entry count
			}
			eachBox(entries, func(typ string, infe []byte) {
				if typ != "infe" || len(infe) < 4 || infe[0] < 2 {
					return // versions 0 and 1 have no item type
				}
				at := 4 + 2 + 2 // version and flags, 16-bit item id, protection index
				if infe[0] >= 3 {
					at += 2 // 32-bit item id
				}
				if len(infe) < at+4 {
					return
				}
				if t := string(infe[at : at+4]); heifCodecs[t] && !slices.Contains(codecs, t) {
					codecs = append(codecs, t)
				}
			})
		})
	})
	return codecs
}

// eachBox calls fn for each box in b, stopping at the first malformed one.
func eachBox(b []byte, fn func(typ string, body []byte)) {
	for len(b) >= 8 {
		size, hdr := uint64(binary.BigEndian.Uint32(b)), uint64(8)
		switch size {
		case 0:
			size = uint64(len(b))
		case 1:
			if len(b) < 16 {
				return
			}
			size, hdr = binary.BigEndian.Uint64(b[8:]), 16
		}
		if size < hdr || size > uint64(len(b)) {
			return
		}
		fn(string(b[4:8]), b[hdr:size])
		b = b[size:]
	}
}
