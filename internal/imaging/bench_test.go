package imaging

import (
	"context"
	"testing"
)

// galleryPreset is the contract's gallery source type.
var galleryPreset = Options{
	Variants: []Variant{
		{Name: "md", Width: 400, Fit: FitInside},
		{Name: "lg", Width: 800, Fit: FitInside},
		{Name: "xl", Width: 1200, Fit: FitInside},
	},
	Quality:      82,
	KeepOriginal: true,
}

// BenchmarkProcessGallery compares with the sharp reference script
// (shared/bench/sharp-reference, --preset gallery --threads 1) on the
// same photo; run both one after the other and compare images/s.
func BenchmarkProcessGallery(b *testing.B) {
	src := readTestImage(b, "2569067123_aca715a2ee_o.jpg")
	Start(Config{Concurrency: 1}) // TestMain's config wins under go test; both use 1 thread
	fast := galleryPreset
	fast.WebPEffort = 2
	for name, opts := range map[string]Options{"bySize": galleryPreset, "effort2": fast} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Process(context.Background(), src, opts); err != nil {
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
	src := readTestImage(b, "2569067123_aca715a2ee_o.jpg")
	thumb := decodeForTest(b, src, blurSize)
	for b.Loop() {
		focalPoint(thumb)
	}
}

// BenchmarkCountJPEGScans is the guard's pass over every JPEG job's bytes.
func BenchmarkCountJPEGScans(b *testing.B) {
	src := readTestImage(b, "2569067123_aca715a2ee_o.jpg")
	for b.Loop() {
		countJPEGScans(src)
	}
}
