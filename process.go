package ximagepipeline

import "errors"

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

// ErrNoProcessing is New's answer when asked to run workers, and
// ProcessImage's, in a build without cgo (BuiltWithProcessing false).
var ErrNoProcessing = errors.New("this build cannot process images: it was built without cgo (CGO_ENABLED=0), so without libvips; " +
	"set DisableWorkers (serve --workers=false) and run the workers from a build with cgo")
