package phash

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

func BenchmarkHash(b *testing.B) {
	for _, n := range []int{32, 64} {
		img := testimages.Scene(1, n, n)
		b.Run(fmt.Sprintf("%dx%d", n, n), func(b *testing.B) {
			for b.Loop() {
				Hash(img)
			}
		})
	}
}

// BenchmarkScan compares one hash with 100,000 others, as a similarTo
// query that loads a source type's hashes and filters them in Go would.
func BenchmarkScan(b *testing.B) {
	rnd := rand.New(rand.NewPCG(1, 2))
	hashes := make([]uint64, 100_000)
	for i := range hashes {
		hashes[i] = rnd.Uint64()
	}
	query := rnd.Uint64()
	for b.Loop() {
		n := 0
		for _, h := range hashes {
			if Distance(query, h) <= NearDuplicate {
				n++
			}
		}
		_ = n
	}
}
