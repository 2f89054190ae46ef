// Package imaging is everything the pipeline does with pixels: it sniffs
// and reads headers of uploads (pure Go, before any decode), and turns an
// accepted upload into upright, sRGB, metadata-free variants with the facts
// the Media row needs (size, aspect ratio, BlurHash, focal point).
//
// libvips does the pixel work, initialised once per process by Start.
// Everything here is safe for concurrent use.
package imaging

import (
	"errors"
	"sync"
)

// ErrUndecodable marks input that can never be decoded (corrupt, truncated
// or unsupported). Callers fail the job at once instead of retrying; every
// other error from Process may pass and is worth a retry.
var ErrUndecodable = errors.New("imaging: image cannot be decoded")

// ErrOriginalTooLarge is returned when the original, re-encoded upright
// and in sRGB, is over Options.MaxOriginalBytes.
var ErrOriginalTooLarge = errors.New("imaging: re-encoded original too large")

// ErrTooManyPixels is returned when a source is over Options.MaxPixels.
var ErrTooManyPixels = errors.New("imaging: image has too many pixels")

// Config tunes libvips for the whole process. The zero value is the default.
type Config struct {
	// Concurrency is the number of libvips threads per operation. Default 1:
	// the worker pool already runs one job per CPU, and more threads per
	// image only add contention.
	Concurrency int
	// AllowHEIF lets the HEIF loader (AVIF and HEIC) run. Default false:
	// libheif is a large attack surface and these formats are opt-in.
	AllowHEIF bool
}

// DefaultConcurrency is the number of libvips threads per operation used
// when Config.Concurrency is 0.
const DefaultConcurrency = 1

var (
	startOnce sync.Once
	started   Config
	startErr  error
)

// Start initialises libvips once per process; later calls, with any
// config, do nothing (the first config wins). Process calls it with the
// default config if nobody did before.
//
// It sets the threads per operation, disables the libvips operation cache
// (uploads are never processed twice, and a cache would pin their buffers
// in memory), silences libvips warnings (errors are returned, not logged),
// and blocks every loader except JPEG, PNG, WebP, GIF and, when allowed,
// HEIF, so that a file that sniffs as an image but is really something
// else (SVG, PDF, TIFF, vips, matrix...) can never reach a parser.
func Start(cfg Config) {
	startOnce.Do(func() {
		if cfg.Concurrency <= 0 {
			cfg.Concurrency = DefaultConcurrency
		}
		started = cfg
		startErr = startVips(cfg)
	})
}

// ready starts libvips with the default config if needed and reports
// whether it could start.
func ready() (Config, error) {
	Start(Config{})
	return started, startErr
}
