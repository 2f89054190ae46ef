package placeholder

import (
	"fmt"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// The placeholders are computed from the pipeline's summary thumbnail:
// 32 px wide today, 64 px if it grows for the perceptual hash.
var benchSizes = []int{32, 64}

func BenchmarkThumbHash(b *testing.B) {
	for _, n := range benchSizes {
		img := testimages.Scene(1, n, n)
		b.Run(fmt.Sprintf("%dx%d", n, n), func(b *testing.B) {
			for b.Loop() {
				ThumbHash(img)
			}
		})
	}
}

func BenchmarkThumbHashToRGBA(b *testing.B) {
	hash := ThumbHash(testimages.Scene(1, 64, 64))
	for b.Loop() {
		ThumbHashToRGBA(hash)
	}
}

func BenchmarkDominantColour(b *testing.B) {
	for _, n := range benchSizes {
		img := testimages.Scene(1, n, n)
		b.Run(fmt.Sprintf("%dx%d", n, n), func(b *testing.B) {
			for b.Loop() {
				DominantColour(img)
			}
		})
	}
}
