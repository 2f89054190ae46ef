package imagefile

import (
	"encoding/binary"
)

// webpChunk is a RIFF chunk of a WebP file, padded to an even size.
func webpChunk(fourcc string, data []byte) []byte {
	c := append([]byte(fourcc), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	c = append(c, data...)
	if len(data)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

// webpFile wraps the chunks of body (after "WEBP") in a RIFF header.
func webpFile(body []byte) []byte {
	body = append([]byte("WEBP"), body...)
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}
