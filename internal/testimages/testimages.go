// Package testimages makes images for tests, with the Go standard library
// only, so that tests run anywhere: JPEGs carrying a hand-built EXIF block
// (orientation, camera make, GPS), XMP and a comment; PNGs with alpha and
// text chunks; animated GIFs; files whose header claims far more pixels than
// they hold; truncated JPEGs; and non-images (SVG, HTML, PDF, a script).
//
// Orientation is checked from pixels: Quadrants paints each quarter of an
// image in its own colour, so which colour sits in which corner of a decoded
// output tells whether it is upright (QuadrantColors), whatever its size.
package testimages

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"strings"
)

// Markers embedded in the metadata of generated files. None of them may
// appear in any output of a pipeline that removes metadata.
const (
	CameraMake    = "XIPTestCam"        // EXIF IFD0 Make
	XMPMarker     = "xip-xmp-marker"    // inside the XMP packet
	CommentMarker = "xip-comment-mark"  // JPEG COM segment
	IPTCMarker    = "xip-iptc-caption"  // JPEG APP13 (Photoshop IPTC) caption
	TextMarker    = "xip-png-text-mark" // PNG tEXt chunk
)

// The colours of Quadrants, chosen far apart so that lossy compression and
// chroma subsampling cannot confuse them.
var (
	Red   = color.NRGBA{255, 0, 0, 255}
	Green = color.NRGBA{0, 255, 0, 255}
	Blue  = color.NRGBA{0, 0, 255, 255}
	White = color.NRGBA{255, 255, 255, 255}
)

// Upright is the corner colours of an upright Quadrants image, in the
// order top-left, top-right, bottom-left, bottom-right.
var Upright = [4]string{"red", "green", "blue", "white"}

// Quadrants returns a w x h image whose top-left quarter is red, top-right
// green, bottom-left blue and bottom-right white. Any of the eight EXIF
// orientations, applied wrongly or not at all, moves at least two colours.
func Quadrants(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := Red
			switch {
			case x >= w/2 && y < h/2:
				c = Green
			case x < w/2 && y >= h/2:
				c = Blue
			case x >= w/2 && y >= h/2:
				c = White
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// ColorName names the colour of Quadrants nearest to c: "red", "green",
// "blue" or "white"; "transparent" when its alpha is below one half.
func ColorName(c color.Color) string {
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	if n.A < 128 {
		return "transparent"
	}
	best, bestD := "", 1<<30
	for _, cand := range []struct {
		name string
		c    color.NRGBA
	}{{"red", Red}, {"green", Green}, {"blue", Blue}, {"white", White}} {
		dr, dg, db := int(n.R)-int(cand.c.R), int(n.G)-int(cand.c.G), int(n.B)-int(cand.c.B)
		if d := dr*dr + dg*dg + db*db; d < bestD {
			best, bestD = cand.name, d
		}
	}
	return best
}

// QuadrantColors names the colours at the centres of the four quarters of
// img: top-left, top-right, bottom-left, bottom-right. An upright
// Quadrants image, at any size, answers Upright.
func QuadrantColors(img image.Image) [4]string {
	b := img.Bounds()
	at := func(fx, fy float64) string {
		return ColorName(img.At(b.Min.X+int(fx*float64(b.Dx())), b.Min.Y+int(fy*float64(b.Dy()))))
	}
	return [4]string{at(0.25, 0.25), at(0.75, 0.25), at(0.25, 0.75), at(0.75, 0.75)}
}

// Stored returns the pixels a camera stores for an upright image when it
// tags them with the EXIF orientation o (1-8): a viewer applying the tag
// (see Display) shows upright again. For o in 5-8 width and height swap.
// Orientations 6 and 8 undo each other; the others undo themselves.
func Stored(upright image.Image, o int) *image.NRGBA {
	switch o {
	case 6:
		return Display(upright, 8)
	case 8:
		return Display(upright, 6)
	}
	return Display(upright, o)
}

// Display returns what a viewer shows for stored pixels tagged with EXIF
// orientation o: the inverse of Stored.
func Display(stored image.Image, o int) *image.NRGBA {
	b := stored.Bounds()
	sw, sh := b.Dx(), b.Dy()
	W, H := sw, sh
	if o >= 5 {
		W, H = sh, sw
	}
	out := image.NewNRGBA(image.Rect(0, 0, W, H))
	for y := range H {
		for x := range W {
			sx, sy := storedPixel(o, x, y, sw, sh)
			out.Set(x, y, stored.At(b.Min.X+sx, b.Min.Y+sy))
		}
	}
	return out
}

// storedPixel is the stored pixel (of a w x h stored image) that a viewer
// shows at (x, y) under EXIF orientation o.
func storedPixel(o, x, y, w, h int) (int, int) {
	switch o {
	case 2: // mirrored horizontally
		return w - 1 - x, y
	case 3: // rotated 180
		return w - 1 - x, h - 1 - y
	case 4: // mirrored vertically
		return x, h - 1 - y
	case 5: // transposed
		return y, x
	case 6: // row 0 is shown as the right column, top to bottom
		return y, h - 1 - x
	case 7: // transversed
		return w - 1 - y, h - 1 - x
	case 8: // row 0 is shown as the left column, bottom to top
		return w - 1 - y, x
	}
	return x, y
}

// Noise returns a w x h image of deterministic random pixels: it
// compresses badly, which makes large files from small images.
func Noise(w, h int, seed uint64) *image.NRGBA {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		v := r.Uint32()
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = byte(v), byte(v>>8), byte(v>>16), 255
	}
	return img
}

// JPEG encodes img as a baseline JPEG without any metadata segment.
func JPEG(img image.Image, quality int) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		panic(err) // only an image with no pixels fails, a bug in the caller
	}
	return buf.Bytes()
}

// TaggedJPEG encodes img as it is at quality 95 (a grey image stays one
// band) and plants what a camera and an editor leave: Metadata(o). The
// pixels are not rotated: pass Stored(upright, o) for a correctly tagged
// photo.
func TaggedJPEG(img image.Image, o int) []byte {
	return InsertSegments(JPEG(img, 95), Metadata(o)...)
}

// RepeatedScans returns jpg with its one scan (its SOS segment and
// entropy-coded data) repeated n times, as in a progressive JPEG that
// repeats a scan to make the decoder run through the image n times.
func RepeatedScans(jpg []byte, n int) []byte {
	sos := bytes.Index(jpg, []byte{0xFF, 0xDA})
	eoi := bytes.LastIndex(jpg, []byte{0xFF, 0xD9})
	if sos < 0 || eoi < sos {
		panic("testimages: RepeatedScans: no scan in the JPEG")
	}
	out := append([]byte{}, jpg[:sos]...)
	for range n {
		out = append(out, jpg[sos:eoi]...)
	}
	return append(out, jpg[eoi:]...)
}

// Busy returns an image a resize can get wrong in many ways: smooth
// gradients, hard edges, a one-pixel grid and noise, in every channel
// differently.
func Busy(w, h int, seed uint64) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, 1))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{uint8(x * 255 / max(1, w-1)), uint8(y * 255 / max(1, h-1)), 0, 255}
			if (x/7+y/5)%2 == 0 {
				c.B = 230
			}
			if x%9 == 0 || y%11 == 0 {
				c.R, c.G = 255-c.R, 20
			}
			c.G += uint8(r.IntN(24))
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// GPS is a position for the EXIF GPS IFD, in degrees; positive is north
// and east.
type GPS struct{ Lat, Lon float64 }

// EXIF is what BuildEXIF writes.
type EXIF struct {
	Orientation int    // 0: no orientation tag
	Make        string // "": no Make tag
	GPS         *GPS   // nil: no GPS IFD
}

// BuildEXIF returns the payload of a JPEG APP1 EXIF segment ("Exif\0\0"
// and a little-endian TIFF structure): IFD0 with Make, Orientation and a
// pointer to a GPS IFD holding version, latitude and longitude.
func BuildEXIF(e EXIF) []byte {
	type entry struct {
		tag, typ uint16
		count    uint32
		data     []byte // inline when 4 bytes or less, else stored after the IFDs
	}
	le := binary.LittleEndian
	short := func(v uint16) []byte { return le.AppendUint16(nil, v) }
	long := func(v uint32) []byte { return le.AppendUint32(nil, v) }
	rationals := func(vs ...[2]uint32) []byte {
		var b []byte
		for _, v := range vs {
			b = le.AppendUint32(le.AppendUint32(b, v[0]), v[1])
		}
		return b
	}
	dms := func(deg float64) []byte {
		deg = max(deg, -deg)
		d := uint32(deg)
		m := uint32((deg - float64(d)) * 60)
		s := uint32(((deg-float64(d))*60 - float64(m)) * 60 * 100)
		return rationals([2]uint32{d, 1}, [2]uint32{m, 1}, [2]uint32{s, 100})
	}
	const (
		typeByte     = 1
		typeASCII    = 2
		typeShort    = 3
		typeLong     = 4
		typeRational = 5
	)

	var ifd0, gpsIFD []entry
	if e.Make != "" {
		ifd0 = append(ifd0, entry{0x010F, typeASCII, uint32(len(e.Make) + 1), append([]byte(e.Make), 0)})
	}
	if e.Orientation != 0 {
		ifd0 = append(ifd0, entry{0x0112, typeShort, 1, short(uint16(e.Orientation))})
	}
	if e.GPS != nil {
		ifd0 = append(ifd0, entry{0x8825, typeLong, 1, nil}) // offset patched below
		ns, ew := "N", "E"
		if e.GPS.Lat < 0 {
			ns = "S"
		}
		if e.GPS.Lon < 0 {
			ew = "W"
		}
		gpsIFD = []entry{
			{0x0000, typeByte, 4, []byte{2, 2, 0, 0}},
			{0x0001, typeASCII, 2, []byte(ns + "\x00")},
			{0x0002, typeRational, 3, dms(e.GPS.Lat)},
			{0x0003, typeASCII, 2, []byte(ew + "\x00")},
			{0x0004, typeRational, 3, dms(e.GPS.Lon)},
		}
	}

	ifdSize := func(n int) uint32 { return uint32(2 + 12*n + 4) }
	extSize := func(es []entry) uint32 {
		var n uint32
		for _, e := range es {
			if len(e.data) > 4 {
				n += uint32(len(e.data)+1) &^ 1 // word aligned
			}
		}
		return n
	}
	// Layout: header (8), IFD0, IFD0's data, GPS IFD, GPS data.
	ifd0Off := uint32(8)
	gpsOff := ifd0Off + ifdSize(len(ifd0)) + extSize(ifd0)
	for i := range ifd0 {
		if ifd0[i].tag == 0x8825 {
			ifd0[i].data = long(gpsOff)
		}
	}
	tiff := []byte{'I', 'I', 0x2A, 0x00}
	tiff = le.AppendUint32(tiff, ifd0Off)
	writeIFD := func(es []entry, at uint32) {
		ext := at + ifdSize(len(es))
		var data []byte
		tiff = le.AppendUint16(tiff, uint16(len(es)))
		for _, e := range es {
			tiff = le.AppendUint16(tiff, e.tag)
			tiff = le.AppendUint16(tiff, e.typ)
			tiff = le.AppendUint32(tiff, e.count)
			if len(e.data) <= 4 {
				v := make([]byte, 4)
				copy(v, e.data)
				tiff = append(tiff, v...)
				continue
			}
			tiff = le.AppendUint32(tiff, ext+uint32(len(data)))
			data = append(data, e.data...)
			if len(data)%2 == 1 {
				data = append(data, 0)
			}
		}
		tiff = le.AppendUint32(tiff, 0) // no next IFD
		tiff = append(tiff, data...)
	}
	writeIFD(ifd0, ifd0Off)
	if len(gpsIFD) > 0 {
		if uint32(len(tiff)) != gpsOff {
			panic(fmt.Sprintf("testimages: EXIF layout: GPS IFD at %d, want %d", len(tiff), gpsOff))
		}
		writeIFD(gpsIFD, gpsOff)
	}
	return append([]byte("Exif\x00\x00"), tiff...)
}

// XMPPayload returns the payload of a JPEG APP1 XMP segment carrying
// XMPMarker and a GPS position.
func XMPPayload() []byte {
	return []byte("http://ns.adobe.com/xap/1.0/\x00" +
		`<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>` +
		`<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">` +
		`<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="48,51.4N" ` +
		`exif:UserComment="` + XMPMarker + `"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>`)
}

// Segment is a JPEG marker segment: the marker byte (0xE1 for APP1, 0xFE
// for COM) and its payload, without the length.
type Segment struct {
	Marker  byte
	Payload []byte
}

// InsertSegments returns jpg with segs inserted right after SOI, in order.
func InsertSegments(jpg []byte, segs ...Segment) []byte {
	if len(jpg) < 2 || jpg[0] != 0xFF || jpg[1] != 0xD8 {
		panic("testimages: not a JPEG")
	}
	out := []byte{0xFF, 0xD8}
	for _, s := range segs {
		if len(s.Payload)+2 > 0xFFFF {
			panic("testimages: segment too long")
		}
		out = append(out, 0xFF, s.Marker)
		out = binary.BigEndian.AppendUint16(out, uint16(len(s.Payload)+2))
		out = append(out, s.Payload...)
	}
	return append(out, jpg[2:]...)
}

// OrientedJPEG returns a JPEG of upright stored as a camera tagging it with
// orientation o would (see Stored), carrying Metadata(o).
func OrientedJPEG(upright image.Image, o int) []byte {
	return InsertSegments(JPEG(Stored(upright, o), 92), Metadata(o)...)
}

// Metadata returns the segments a camera and an editor leave in a JPEG: an
// APP1 EXIF segment (orientation o, CameraMake, a GPS position), an APP1
// XMP segment, a comment and an APP13 IPTC caption, each with its marker.
func Metadata(o int) []Segment {
	return []Segment{
		{0xE1, BuildEXIF(EXIF{Orientation: o, Make: CameraMake, GPS: &GPS{Lat: 48.8584, Lon: 2.2945}})},
		{0xE1, XMPPayload()},
		{0xFE, []byte(CommentMarker)},
		{0xED, IPTCPayload()},
	}
}

// IPTCPayload is an APP13 Photoshop "8BIM" resource 0x0404 holding an IPTC
// caption (2:120) with IPTCMarker.
func IPTCPayload() []byte {
	iptc := append([]byte{0x1C, 0x02, 120}, byte(len(IPTCMarker)>>8), byte(len(IPTCMarker)))
	iptc = append(iptc, IPTCMarker...)
	out := []byte("Photoshop 3.0\x00" + "8BIM")
	out = append(out, 0x04, 0x04, 0, 0) // resource id, empty Pascal name (padded)
	out = binary.BigEndian.AppendUint32(out, uint32(len(iptc)))
	out = append(out, iptc...)
	if len(iptc)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

// PNG encodes img, with metadata chunks after IHDR: tEXt holding
// TextMarker, iTXt holding the XMP packet (XMPMarker) and eXIf (orientation
// 1, CameraMake, a GPS position).
func PNG(img image.Image) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	b := buf.Bytes()
	// Signature (8) + IHDR chunk (4 length + 4 type + 13 data + 4 CRC).
	const afterIHDR = 8 + 25
	out := append([]byte{}, b[:afterIHDR]...)
	out = append(out, PNGChunk("tEXt", []byte("Comment\x00"+TextMarker))...)
	xmp := XMPPayload()[len("http://ns.adobe.com/xap/1.0/\x00"):]
	out = append(out, PNGChunk("iTXt", append([]byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00"), xmp...))...)
	exif := BuildEXIF(EXIF{Orientation: 1, Make: CameraMake, GPS: &GPS{Lat: 48.8584, Lon: 2.2945}})
	out = append(out, PNGChunk("eXIf", exif[len("Exif\x00\x00"):])...)
	return append(out, b[afterIHDR:]...)
}

// AlphaPNG returns a w x h RGBA PNG whose left half is opaque red and whose
// right half is fully transparent.
func AlphaPNG(w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			if x < w/2 {
				img.SetNRGBA(x, y, Red)
			} else {
				img.SetNRGBA(x, y, color.NRGBA{0, 0, 255, 0})
			}
		}
	}
	return PNG(img)
}

// PNGChunk returns a PNG chunk: length, type, data and CRC.
func PNGChunk(typ string, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[4:]))
}

// AnimatedGIF returns a w x h GIF with one frame per colour, each frame
// filled with its colour.
func AnimatedGIF(w, h int, colors ...color.Color) []byte {
	g := &gif.GIF{LoopCount: 0}
	for _, c := range colors {
		frame := image.NewPaletted(image.Rect(0, 0, w, h), palette.Plan9)
		draw.Draw(frame, frame.Rect, image.NewUniform(c), image.Point{}, draw.Src)
		g.Image = append(g.Image, frame)
		g.Delay = append(g.Delay, 10)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// TextBombPNG returns png (as PNG makes it) with n zTXt chunks after its
// IHDR, each inflating to 4 MiB of text: libpng inflates every one into
// memory whole.
func TextBombPNG(png []byte, n int) []byte {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(bytes.Repeat([]byte("A"), 4<<20))
	zw.Close()
	bomb := PNGChunk("zTXt", append([]byte("Comment\x00\x00"), z.Bytes()...))
	const afterIHDR = 8 + 25
	out := append([]byte{}, png[:afterIHDR]...)
	for range n {
		out = append(out, bomb...)
	}
	return append(out, png[afterIHDR:]...)
}

// HugePNG returns a PNG of a few dozen bytes whose IHDR claims w x h
// pixels: its one IDAT holds no pixel data at all.
func HugePNG(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0) // 8-bit RGBA, deflate, no filter, no interlace
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, PNGChunk("IHDR", ihdr)...)
	out = append(out, PNGChunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	return append(out, PNGChunk("IEND", nil)...)
}

// HugeJPEG returns a JPEG of a few dozen bytes whose SOF0 claims w x h
// pixels: it has no tables and no scan.
func HugeJPEG(w, h uint16) []byte {
	out := []byte{0xFF, 0xD8}
	out = append(out, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 1, 1, 0, 0, 1, 0, 1, 0, 0)
	sof := []byte{0xFF, 0xC0, 0x00, 17, 8}
	sof = binary.BigEndian.AppendUint16(sof, h)
	sof = binary.BigEndian.AppendUint16(sof, w)
	sof = append(sof, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1)
	out = append(out, sof...)
	return append(out, 0xFF, 0xD9)
}

// OffscreenGIF returns a GIF whose w x h screen holds one fw x fh frame at
// (left, top), which may lie far beyond the screen: its header's screen
// size then understates what a decoder makes.
func OffscreenGIF(w, h, left, top, fw, fh uint16) []byte {
	le := binary.LittleEndian
	b := []byte("GIF89a")
	b = le.AppendUint16(le.AppendUint16(b, w), h)
	b = append(b, 0, 0, 0, 0x2C) // no colour table; an image descriptor
	for _, v := range []uint16{left, top, fw, fh} {
		b = le.AppendUint16(b, v)
	}
	return append(b, 0, 2, 2, 0x4C, 0x01, 0, 0x3B) // flags, LZW size, one data block, end, trailer
}

// TruncatedJPEG returns the first half of a w x h noise JPEG: its header is
// intact, its scan stops half-way, and it has no EOI.
func TruncatedJPEG(w, h int) []byte {
	full := JPEG(Noise(w, h, 7), 90)
	return full[:len(full)/2]
}

// Pad returns data followed by zero bytes up to size bytes in all. After a
// JPEG's EOI or a PNG's IEND decoders ignore them: it makes a valid image
// of any size.
func Pad(data []byte, size int) []byte {
	if size < len(data) {
		panic("testimages: Pad: data longer than size")
	}
	out := make([]byte, size)
	copy(out, data)
	return out
}

// Non-images that must never be decoded.
var (
	SVG = []byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">` +
		`<script>alert(1)</script><rect width="100" height="100" fill="red"/></svg>`)
	HTML   = []byte("<!DOCTYPE html>\n<html><head><title>x</title></head><body><script>alert(1)</script></body></html>\n")
	PDF    = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
	Script = []byte("#!/bin/sh\necho pwned > /tmp/pwned\n" + strings.Repeat("# padding\n", 10))
)

// WebPChunk is a RIFF chunk of a WebP file, padded to an even size.
func WebPChunk(fourcc string, data []byte) []byte {
	c := append([]byte(fourcc), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	c = append(c, data...)
	if len(data)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

// WebPFile wraps the chunks of body (after "WEBP") in a RIFF header.
func WebPFile(body []byte) []byte {
	body = append([]byte("WEBP"), body...)
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}
