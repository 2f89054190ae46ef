package ximagepipeline

import (
	"context"
	"fmt"

	"github.com/ximagepipeline/ximagepipeline/failure"
)

// ProcessedImage is the result of ProcessImage.
type ProcessedImage struct {
	Width       int // after auto-orientation
	Height      int
	AspectRatio string
	BlurHash    string
	Format      string // of the source
	FocalPoint  Point
	Outputs     []Output // the variants in the source type's order, then the original if kept
}

// Output is one encoded image.
type Output struct {
	Name   string // variant name, or "original"
	Format string // webp, avif, or the source format for the original
	Ext    string // file extension, as storage names the file: Format, except "jpg" for "jpeg"
	Width  int
	Height int
	Data   []byte
}

// ProcessImage does a worker's processing of one image for a source type,
// synchronously and without queue, database or storage: for batch tools
// and benchmarks. Only cfg's variants, source types, allowed types and
// limits are used.
func ProcessImage(ctx context.Context, cfg Config, sourceType string, src []byte) (*ProcessedImage, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	st, ok := cfg.SourceTypes[sourceType]
	if !ok {
		return nil, failure.UnknownSourceType(sourceType)
	}
	proc, err := newProcessor(cfg)
	if err != nil {
		return nil, err
	}
	res, err := proc.Process(ctx, src, st)
	if err != nil {
		return nil, fmt.Errorf("process: %w", err)
	}
	out := &ProcessedImage{
		Width: res.Width, Height: res.Height, AspectRatio: res.AspectRatio, BlurHash: res.BlurHash,
		Format: res.Source.Format, FocalPoint: res.FocalPoint,
	}
	for _, o := range res.Variants {
		out.Outputs = append(out.Outputs, Output{Name: o.Name, Format: o.Format, Ext: o.Ext, Width: o.Width, Height: o.Height, Data: o.Data})
	}
	if o := res.Original; o != nil {
		out.Outputs = append(out.Outputs, Output{Name: o.Name, Format: o.Format, Ext: o.Ext, Width: o.Width, Height: o.Height, Data: o.Data})
	}
	return out, nil
}
