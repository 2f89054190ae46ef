package ximagepipeline

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
