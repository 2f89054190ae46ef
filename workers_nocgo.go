//go:build !cgo

package ximagepipeline

import (
	"context"
	"errors"
)

// A build without cgo cannot process images (libvips is C): it is an API
// server, which accepts uploads and answers status while workers built
// with cgo process the jobs (docs/decisions.md, "API servers build without
// cgo").

// BuiltWithProcessing says whether this build can process images: false
// here, built with CGO_ENABLED=0.
const BuiltWithProcessing = false

// ErrNoProcessing is New's answer when asked to run workers, and
// ProcessImage's, in a build without cgo.
var ErrNoProcessing = errors.New("this build cannot process images: it was built without cgo (CGO_ENABLED=0), so without libvips; " +
	"set DisableWorkers (serve --workers=false) and run the workers from a build with cgo")

// canProcess refuses workers in this build, before New opens anything.
func canProcess() error { return ErrNoProcessing }

func (p *Pipeline) newWorker() (worker, error) { return nil, ErrNoProcessing }

// ProcessImage fails with ErrNoProcessing in a build without cgo.
func ProcessImage(context.Context, Config, string, []byte) (*ProcessedImage, error) {
	return nil, ErrNoProcessing
}

// libvipsMemory is 0: there is no libvips in this build.
func libvipsMemory() (current, peak int64) { return 0, 0 }
