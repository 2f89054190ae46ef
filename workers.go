//go:build cgo

package ximagepipeline

import (
	"context"
	"fmt"
	"runtime"

	"github.com/ximagepipeline/ximagepipeline/failure"
	"github.com/ximagepipeline/ximagepipeline/internal/imaging"
	"github.com/ximagepipeline/ximagepipeline/internal/jobs"
	iworker "github.com/ximagepipeline/ximagepipeline/internal/worker"
)

// The image processing, which needs cgo and libvips. A build without cgo
// (CGO_ENABLED=0) gets workers_nocgo.go instead: an API-only pipeline
// (docs/decisions.md, "API servers build without cgo").

// BuiltWithProcessing says whether this build can process images: true
// with cgo (and libvips), false in a CGO_ENABLED=0 build, where New
// refuses to start workers and ProcessImage fails.
const BuiltWithProcessing = true

// canProcess says whether this build can run workers: it can.
func canProcess() error { return nil }

// jobWorker is internal/worker's Worker as the pipeline's worker.
type jobWorker struct{ *iworker.Worker }

func (w jobWorker) attach(j *jobs.Service) { w.Jobs = j }

// newWorker builds the worker of a pipeline that runs workers: its imaging
// (libvips starts with the first processor) and what each job needs.
func (p *Pipeline) newWorker() (worker, error) {
	proc, err := newProcessor(p.cfg, runtime.GOMAXPROCS(0))
	if err != nil {
		return nil, err
	}
	cfg := p.cfg
	return jobWorker{&iworker.Worker{
		Storage: p.storage, Layout: p.layout, Processor: proc, SourceTypes: cfg.SourceTypes,
		MaxFileSize: cfg.MaxFileSize, StagingGrace: cfg.StagingGrace, Logger: cfg.Logger,
		Observer: observer{p}, Tracer: p.tracer, Moderator: cfg.Moderator, Moderation: cfg.Moderation,
	}}, nil
}

// newProcessor builds the pipeline's imaging from cfg: its variants, the
// types it decodes and its limits (a re-encoded original is bounded by the
// upload size limit). A worker's jobs encode on up to threads goroutines
// together: the CPUs, so that a job alone uses the idle ones and a busy
// worker adds no threads (docs/decisions.md, "A job alone encodes on the
// idle CPUs").
func newProcessor(cfg Config, threads int) (*imaging.Processor, error) {
	return imaging.NewProcessor(imaging.Config{
		Variants: cfg.Variants, AllowedTypes: cfg.AllowedTypes, MaxPixels: cfg.MaxPixels, MaxOriginalBytes: cfg.MaxFileSize,
		WebPEffort: cfg.WebPEffort, Threads: threads,
	})
}

// ProcessImage does a worker's processing of one image for a source type,
// synchronously and without queue, database or storage, on the calling
// goroutine only: for batch tools and benchmarks, which run as many at once
// as they want threads. Only cfg's variants, source types, allowed types
// and limits are used.
func ProcessImage(ctx context.Context, cfg Config, sourceType string, src []byte) (*ProcessedImage, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	st, ok := cfg.SourceTypes[sourceType]
	if !ok {
		return nil, failure.UnknownSourceType(sourceType)
	}
	proc, err := newProcessor(cfg, 1)
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

// libvipsMemory is what libvips holds for pixels now, and its peak.
func libvipsMemory() (current, peak int64) { return imaging.Memory() }
