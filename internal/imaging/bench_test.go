package imaging

import (
	"context"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
	"github.com/ximagepipeline/ximagepipeline/media"
)

// BenchmarkProcessGallery compares with the sharp reference script
// (shared/bench/sharp-reference, --preset gallery --threads 1) on the
// same photo; run both one after the other and compare images/s. It runs
// the contract's gallery source type at our WebP effort and at libwebp's
// default.
func BenchmarkProcessGallery(b *testing.B) {
	src := testimages.Shared(b, "2569067123_aca715a2ee_o.jpg")
	gallery := media.DefaultSourceTypes()["gallery"]
	for name, effort := range map[string]int{"effort4": 4, "effort2": 2} {
		p, err := NewProcessor(Config{WebPEffort: effort})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := p.Process(context.Background(), src, gallery); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
		})
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
