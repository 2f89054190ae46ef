package imagefile

import "testing"

// BenchmarkCountJPEGScans is the guard's pass over every JPEG job's bytes.
func BenchmarkCountJPEGScans(b *testing.B) {
	src := readTestImage(b, "2569067123_aca715a2ee_o.jpg")
	for b.Loop() {
		countJPEGScans(src)
	}
}
