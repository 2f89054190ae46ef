package imagefile

import (
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// BenchmarkCountJPEGScans is the guard's pass over every JPEG job's bytes.
func BenchmarkCountJPEGScans(b *testing.B) {
	src := testimages.Shared(b, "2569067123_aca715a2ee_o.jpg")
	for b.Loop() {
		countJPEGScans(src)
	}
}
