//go:build !cgo

package ximagepipeline

import (
	"context"
)

// A build without cgo cannot process images (libvips is C): it is an API
// server, which accepts uploads and answers status while workers built
// with cgo process the jobs (docs/decisions.md, "API servers build without
// cgo").

// BuiltWithProcessing says whether this build can process images: false
// here, built with CGO_ENABLED=0.
const BuiltWithProcessing = false

// canProcess refuses workers in this build, before New opens anything.
func canProcess() error { return ErrNoProcessing }

func (p *Pipeline) newWorker() (worker, error) { return nil, ErrNoProcessing }

// ProcessImage fails with ErrNoProcessing in a build without cgo.
func ProcessImage(context.Context, Config, string, []byte) (*ProcessedImage, error) {
	return nil, ErrNoProcessing
}

// libvipsMemory is 0: there is no libvips in this build.
func libvipsMemory() (current, peak int64) { return 0, 0 }
