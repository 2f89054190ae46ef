package imaging

import (
	"context"
	"fmt"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
	"github.com/ximagepipeline/ximagepipeline/media"
)

// BenchmarkProcess times one job at a time on the benchmark photo, per
// source type, with its encodings on the job's goroutine only (threads=1,
// as `process --threads 1` and the sharp comparison of make bench run) and
// spread over two (threads=2, a worker's job alone on two idle CPUs): the
// time a lone upload waits for its variants.
func BenchmarkProcess(b *testing.B) {
	src := testimages.Shared(b, "2569067123_aca715a2ee_o.jpg")
	for _, name := range []string{"gallery", "hero"} {
		st := media.DefaultSourceTypes()[name]
		for _, threads := range []int{1, 2} {
			p, err := NewProcessor(Config{Threads: threads})
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/threads=%d", name, threads), func(b *testing.B) {
				for b.Loop() {
					if _, err := p.Process(context.Background(), src, st); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkFocalPoint measures what the focal point adds to a job: the
// saliency of the benchmark photo's 32 px thumbnail (which the BlurHash
// needs anyway).
func BenchmarkFocalPoint(b *testing.B) {
	src := testimages.Shared(b, "2569067123_aca715a2ee_o.jpg")
	thumb := decodeForTest(b, src, blurSize)
	for b.Loop() {
		focalPoint(thumb)
	}
}
