// Package imaging turns an accepted upload into what its source type asks
// for: upright, sRGB, metadata-free variants, the original, and the facts
// the media row needs (size, aspect ratio, BlurHash, focal point).
//
// A pipeline builds one Processor from its Config; Process runs a job as a
// list of steps (plan, decode, insides, facts, covers, original). The
// bytes are read by package imagefile (pure Go: type, header, guards) and
// the pixels by package vips, the libvips binding. Everything here is safe
// for concurrent use.
package imaging

import (
	"errors"
	"fmt"
	"maps"
	"sync/atomic"

	"github.com/ximagepipeline/ximagepipeline/internal/imagefile"
	"github.com/ximagepipeline/ximagepipeline/internal/vips"
	"github.com/ximagepipeline/ximagepipeline/media"
)

// ErrUndecodable marks input that can never be decoded (corrupt, truncated,
// refused by a guard, or of a type the processor does not decode). Callers
// fail the job at once instead of retrying; every other error from Process
// may pass and is worth a retry. It is imagefile's error: its guards
// refuse files before libvips sees them.
var ErrUndecodable = imagefile.ErrUndecodable

// ErrOriginalTooLarge is returned when the original, re-encoded upright
// and in sRGB, is over Config.MaxOriginalBytes.
var ErrOriginalTooLarge = errors.New("imaging: re-encoded original too large")

// ErrTooManyPixels is returned when a source is over Config.MaxPixels.
var ErrTooManyPixels = errors.New("imaging: image has too many pixels")

// The WebP effort (libwebp's method) per output when Config.WebPEffort is
// 0 (docs/performance.md has the measurements). Effort 4 is sharp's:
// below it (effort 2, the default before) files were 3-5% larger and
// butteraugli 4-5% worse on the 1200 and 1920 px variants, which hold most
// of the bytes; effort 3 costs as much as 4 for the same bytes. Effort 5
// (trellis quantisation of the final modes) saves another 3-5% for about
// 3% more time on an opaque image but lowers SSIM by about 0.002, which the
// small covers (an avatar's 64 and 150 px) can spend and the large variants
// cannot. With alpha, efforts 5 and 6 compress the alpha plane harder (50
// ms more per 150 px cover of a photo with a soft-edged alpha): alpha stays
// at 4. Effort 6 saves 2-3% more than 5 for 20% more of an avatar job.
const (
	smallWebPPixels = 65_536 // 256x256
	smallWebPEffort = 5
	webPEffort      = 4
)

// webpEffort is the WebP effort of an output of pixels pixels (one
// frame): the configured one, or chosen by size and alpha.
func webpEffort(configured, pixels int, alpha bool) int {
	switch {
	case configured > 0:
		return configured
	case pixels <= smallWebPPixels && !alpha:
		return smallWebPEffort
	}
	return webPEffort
}

// Config is what one pipeline asks of processing. The zero value decodes
// the default types into the contract's variants, without limits.
type Config struct {
	// Variants is the table that source types name their variants from.
	// Default media.DefaultVariants().
	Variants map[string]media.VariantSpec
	// AllowedTypes are the sniffed MIME types this processor decodes;
	// anything else is ErrUndecodable before libvips sees a byte of it.
	// Default media.DefaultAllowedTypes() (JPEG, PNG, WebP, GIF). Listing
	// AVIF or HEIC unblocks libheif's loader in libvips, which is one per
	// process; processors that do not list them still refuse them.
	AllowedTypes []string
	// MaxPixels refuses, before any decode, a source whose width x height
	// x frames is larger (ErrTooManyPixels). Default 0: no limit. The
	// upload checks the same from the header when it can; this catches
	// what it could not.
	MaxPixels int64
	// MaxOriginalBytes refuses a re-encoded original larger than this
	// (ErrOriginalTooLarge). Default 0: no limit. A small file can decode
	// to a picture that no encoder compresses back as well (a 449 KB PNG
	// made a 400 MB original).
	MaxOriginalBytes int64
	// WebPEffort is libwebp's CPU effort (method), 1-6, for every WebP
	// output. Default 0: chosen per output (webpEffort), 5 for opaque
	// outputs up to 256x256 px, else 4 (sharp's). 2 makes the large
	// variants about twice as fast to encode, 3-5% larger.
	WebPEffort int
	// Threads is how many encodings the processor's jobs may run at once,
	// together. A job encodes its outputs in turn, and hands one to a
	// goroutine of its own while fewer than Threads encodings are running
	// in the processor, so a job alone on idle CPUs spreads over them
	// (the hero's 1920 px variant beside the smaller ones), and jobs that
	// already fill the CPUs do not add threads. Default 0: 1, each job
	// encodes one output at a time, as before.
	Threads int
}

// withDefaults returns a copy of c with its empty fields set and its
// variant specs defaulted.
func (c Config) withDefaults() Config {
	if c.Variants == nil {
		c.Variants = media.DefaultVariants()
	}
	variants := make(map[string]media.VariantSpec, len(c.Variants))
	for name, v := range c.Variants {
		variants[name] = v.WithDefaults()
	}
	c.Variants = variants
	if c.Threads == 0 {
		c.Threads = 1
	}
	if len(c.AllowedTypes) == 0 {
		c.AllowedTypes = media.DefaultAllowedTypes()
	}
	return c
}

func (c Config) validate() error {
	for name, v := range c.Variants {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("imaging: variant %q: %w", name, err)
		}
	}
	if err := media.ValidateAllowedTypes(c.AllowedTypes); err != nil {
		return fmt.Errorf("imaging: %w", err)
	}
	if c.WebPEffort < 0 || c.WebPEffort > 6 {
		return fmt.Errorf("imaging: WebP effort %d not in 0-6", c.WebPEffort)
	}
	if c.Threads < 0 {
		return fmt.Errorf("imaging: Threads %d must not be negative", c.Threads)
	}
	if c.MaxPixels < 0 || c.MaxOriginalBytes < 0 {
		return fmt.Errorf("imaging: MaxPixels %d and MaxOriginalBytes %d must not be negative", c.MaxPixels, c.MaxOriginalBytes)
	}
	return nil
}

// Processor processes images for one pipeline: its variants, its allowed
// types and its limits. Build it with NewProcessor; it is safe for
// concurrent use.
type Processor struct {
	cfg     Config
	allowed map[string]bool // format names (media.Format.Name) decoded
	busy    atomic.Int64    // goroutines at work: one per job in Process, and each encoding handed off (encode)
	handed  atomic.Int64    // encodings ever handed off (for tests)
}

// NewProcessor validates cfg and starts libvips if nobody did before. What
// libvips holds for the whole process (its threads, no cache, the loaders
// it may run) is the same for every processor, except that the loader of
// each type a processor allows is unblocked; what differs between
// pipelines (allowed types, variants, limits) is checked by each
// processor on every job.
func NewProcessor(cfg Config) (*Processor, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := &Processor{cfg: cfg, allowed: map[string]bool{}}
	for _, t := range cfg.AllowedTypes {
		f, _ := media.FormatOf(t) // validated
		if err := vips.EnableLoader(f.Name); err != nil {
			return nil, err
		}
		p.allowed[f.Name] = true
	}
	return p, nil
}

// Config returns the processor's config, defaults filled in.
func (p *Processor) Config() Config {
	c := p.cfg
	c.Variants = maps.Clone(c.Variants)
	c.AllowedTypes = append([]string(nil), c.AllowedTypes...)
	return c
}

// Memory reports the bytes libvips has allocated for pixels now, and the
// most it has held at once since start-up (for metrics).
func Memory() (current, peak int64) { return vips.Memory() }
