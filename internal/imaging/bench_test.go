package imaging

import (
	"context"
	"os"
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
	src, err := os.ReadFile(testImage(b, "2569067123_aca715a2ee_o.jpg"))
	if err != nil {
		b.Fatal(err)
	}
	Start(Config{Concurrency: 1})
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := Process(context.Background(), src, galleryPreset); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
}
