package imagefile

import (
	"bytes"
	"encoding/binary"
	"mime"
	"net/http"
)

// sniffLen is how many leading bytes Sniff looks at, as http.DetectContentType.
const sniffLen = 512

// Sniff returns the MIME type of data from its first bytes (at most 512
// are used), never from a name or a client's Content-Type. It adds to
// http.DetectContentType the ISO-BMFF brands of AVIF and HEIC, the
// detection of SVG (which must never be decoded as an image: it can load
// external resources), and TIFF, JPEG XL and Photoshop files (never decoded,
// named in refusals). Parameters such as charset are dropped.
func Sniff(head []byte) string {
	head = head[:min(len(head), sniffLen)]
	if t := sniffFtyp(head); t != "" {
		return t
	}
	if isSVG(head) {
		return "image/svg+xml"
	}
	if t := sniffOther(head); t != "" {
		return t
	}
	t, _, err := mime.ParseMediaType(http.DetectContentType(head))
	if err != nil {
		return "application/octet-stream"
	}
	return t
}

// sniffOther names image formats that are never decoded but that users
// upload, so that the refusal names them: "File type image/tiff not
// allowed" says more than application/octet-stream.
func sniffOther(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return "image/tiff"
	case bytes.HasPrefix(head, []byte("\xff\x0a")), bytes.HasPrefix(head, []byte("\x00\x00\x00\x0cJXL \x0d\x0a\x87\x0a")):
		return "image/jxl"
	case bytes.HasPrefix(head, []byte("8BPS")):
		return "image/vnd.adobe.photoshop"
	}
	return ""
}

// sniffFtyp recognises HEIF files by the brands in their leading ftyp box.
func sniffFtyp(head []byte) string {
	if len(head) < 12 || string(head[4:8]) != "ftyp" {
		return ""
	}
	size := int(binary.BigEndian.Uint32(head))
	if size < 16 || size > len(head) {
		size = len(head)
	}
	brands := [][]byte{head[8:12]} // major brand, then compatible brands from offset 16
	for i := 16; i+4 <= size; i += 4 {
		brands = append(brands, head[i:i+4])
	}
	heic := false
	for _, b := range brands {
		switch string(b) {
		case "avif", "avis":
			return "image/avif"
		case "heic", "heix", "heim", "heis", "hevc", "hevx":
			heic = true
		}
	}
	if heic {
		return "image/heic"
	}
	return ""
}

// isSVG reports whether head looks like an SVG document: an <svg> element
// near the top, possibly after an XML declaration, comments or a doctype.
func isSVG(head []byte) bool {
	s := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	if !bytes.HasPrefix(s, []byte("<")) {
		return false
	}
	lower := bytes.ToLower(s)
	if bytes.HasPrefix(lower, []byte("<svg")) {
		return true
	}
	if !bytes.HasPrefix(lower, []byte("<?xml")) && !bytes.HasPrefix(lower, []byte("<!--")) &&
		!bytes.HasPrefix(lower, []byte("<!doctype svg")) {
		return false
	}
	return bytes.Contains(lower, []byte("<svg"))
}
