// Package media is the vocabulary every layer of ximagepipeline shares, in
// the role rivertype plays for River: what a source type asks for (its
// variants, quality and formats), the one table of image formats (MIME
// type, name, extension, content type), and the facts processing learns
// about an image. Config, imaging, the store and the API use these types;
// their defaults and their validation are written here, once.
//
// It has no dependencies beyond the standard library and package
// moderation's policy, so that anything may import it.
package media

import (
	"fmt"
	"slices"

	"github.com/ximagepipeline/ximagepipeline/moderation"
)

// Point is a position in an image, 0..1 of its width and height from the
// top left.
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Centre is the middle of an image, the focal point when nothing stands out.
var Centre = Point{X: 0.5, Y: 0.5}

// Fit says how a variant fills its box. Neither fit ever enlarges.
type Fit string

const (
	// FitCover crops to exactly Width x Height around the focal point.
	FitCover Fit = "cover"
	// FitInside bounds the width (and the height, when set), keeping the
	// aspect ratio.
	FitInside Fit = "inside"
)

// VariantSpec is one output size. Variants are never enlarged.
type VariantSpec struct {
	Width  int `json:"width" yaml:"width"`
	Height int `json:"height,omitempty" yaml:"height"` // 0: bounded by width only
	Fit    Fit `json:"fit" yaml:"fit"`                 // default FitInside
}

// Variant is a named VariantSpec, as a source type uses it.
type Variant struct {
	Name string
	VariantSpec
}

// WithDefaults returns v with an empty Fit set to FitInside.
func (v VariantSpec) WithDefaults() VariantSpec {
	if v.Fit == "" {
		v.Fit = FitInside
	}
	return v
}

// Validate reports what is wrong with a defaulted spec.
func (v VariantSpec) Validate() error {
	switch {
	case v.Width <= 0 || v.Height < 0:
		return fmt.Errorf("width must be > 0 and height >= 0 (got %dx%d)", v.Width, v.Height)
	case v.Fit != FitCover && v.Fit != FitInside:
		return fmt.Errorf("fit %q is not cover or inside", v.Fit)
	case v.Fit == FitCover && v.Height == 0:
		return fmt.Errorf("fit cover needs a height")
	}
	return nil
}

// SourceType is what an upload is for (avatar, gallery, ...) and decides
// which variants are made and how.
type SourceType struct {
	// Variants are names of the configured variants, made in this order.
	Variants []string `json:"variants" yaml:"variants"`
	// Quality of the WebP and AVIF variants, 1-100. Default 82
	// (DefaultQuality).
	Quality int `json:"quality" yaml:"quality"`
	// StoreOriginal keeps the metadata-free original. Default false.
	StoreOriginal bool `json:"storeOriginal" yaml:"storeOriginal"`
	// Formats of every variant: "webp" first, optionally "avif". Default
	// ["webp"].
	Formats []string `json:"formats" yaml:"formats"`
	// Animated keeps the animation of animated GIF and WebP uploads in the
	// WebP variants (animated WebP), at most MaxFrames frames. Default
	// false: variants show the first frame.
	Animated bool `json:"animated,omitempty" yaml:"animated"`
	// MaxFrames caps the frames kept when Animated; later frames are
	// dropped. Default 0: DefaultMaxFrames (50); see FrameLimit.
	MaxFrames int `json:"maxFrames,omitempty" yaml:"maxFrames"`
	// Moderation overrides the pipeline's moderation policy for this source
	// type (turn it off, change what rejects). Default nil: the pipeline's
	// policy applies.
	Moderation *moderation.Policy `json:"moderation,omitempty" yaml:"moderation"`
}

// Defaults of a source type's fields.
const (
	DefaultQuality   = 82
	DefaultMaxFrames = 50
)

// WithDefaults returns s with its empty Formats and Quality set to their
// defaults (MaxFrames stays 0: FrameLimit applies its default).
func (s SourceType) WithDefaults() SourceType {
	if len(s.Formats) == 0 {
		s.Formats = []string{"webp"}
	}
	if s.Quality == 0 {
		s.Quality = DefaultQuality
	}
	return s
}

// FrameLimit is the most frames an Animated source type keeps: MaxFrames,
// or DefaultMaxFrames when it is 0.
func (s SourceType) FrameLimit() int {
	if s.MaxFrames == 0 {
		return DefaultMaxFrames
	}
	return s.MaxFrames
}

// Validate reports what is wrong with a defaulted source type whose
// variant names must be among variants.
func (s SourceType) Validate(variants map[string]VariantSpec) error {
	if len(s.Variants) == 0 {
		return fmt.Errorf("has no variants")
	}
	for _, v := range s.Variants {
		if _, ok := variants[v]; !ok {
			return fmt.Errorf("uses variant %q, which is not defined", v)
		}
	}
	if s.Quality < 1 || s.Quality > 100 {
		return fmt.Errorf("quality %d is not in 1..100", s.Quality)
	}
	if s.MaxFrames < 0 {
		return fmt.Errorf("maxFrames %d is negative", s.MaxFrames)
	}
	if len(s.Formats) == 0 || s.Formats[0] != "webp" {
		return fmt.Errorf("formats must start with \"webp\" (got %v)", s.Formats)
	}
	for _, f := range s.Formats {
		if format, ok := FormatNamed(f); !ok || !format.Output {
			return fmt.Errorf("format %q is not supported (webp, avif)", f)
		}
	}
	if s.Moderation != nil {
		if err := s.Moderation.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Resolve returns the specs of s's variants, in its order, looked up in
// variants (which Validate checked).
func (s SourceType) Resolve(variants map[string]VariantSpec) []Variant {
	out := make([]Variant, 0, len(s.Variants))
	for _, name := range s.Variants {
		out = append(out, Variant{Name: name, VariantSpec: variants[name].WithDefaults()})
	}
	return out
}

// DefaultVariants returns the contract's variant table.
func DefaultVariants() map[string]VariantSpec {
	return map[string]VariantSpec{
		"xs":  {Width: 64, Height: 64, Fit: FitCover},
		"sm":  {Width: 150, Height: 150, Fit: FitCover},
		"md":  {Width: 400, Fit: FitInside},
		"lg":  {Width: 800, Fit: FitInside},
		"xl":  {Width: 1200, Fit: FitInside},
		"2xl": {Width: 1920, Fit: FitInside},
	}
}

// DefaultSourceTypes returns the contract's source types.
func DefaultSourceTypes() map[string]SourceType {
	webp := []string{"webp"}
	return map[string]SourceType{
		"avatar":       {Variants: []string{"xs", "sm"}, Quality: 80, StoreOriginal: false, Formats: webp},
		"member_photo": {Variants: []string{"xs", "sm", "md"}, Quality: 82, StoreOriginal: true, Formats: webp},
		"gallery":      {Variants: []string{"md", "lg", "xl"}, Quality: 82, StoreOriginal: true, Formats: webp},
		"hero":         {Variants: []string{"lg", "xl", "2xl"}, Quality: 85, StoreOriginal: true, Formats: webp},
		"content":      {Variants: []string{"sm", "md", "lg"}, Quality: 82, StoreOriginal: true, Formats: webp},
	}
}

// ValidName reports whether s is 1-128 characters of [A-Za-z0-9._-] and
// not "." or "..": the rule for source type, variant and source ids, which
// become parts of storage keys.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 128 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// SourceFacts are facts about an upload as received.
type SourceFacts struct {
	Format      string `json:"format"` // a Format's Name: jpeg, png, webp, gif, avif, heic
	Bytes       int64  `json:"bytes"`
	Width       int    `json:"width"` // as stored, before orientation
	Height      int    `json:"height"`
	Orientation int    `json:"orientation"` // EXIF orientation, 1-8 (1 when absent)
	HasAlpha    bool   `json:"hasAlpha"`
	Frames      int    `json:"frames"`     // 1 unless animated
	ColorSpace  string `json:"colorSpace"` // libvips' interpretation: srgb, cmyk, b-w, rgb16, grey16...
}

// Format is one image format the pipeline knows: decodes (Input), makes
// variants in (Output), or names in refusals.
type Format struct {
	Name  string // as in SourceFacts.Format and variant formats: "jpeg"
	MIME  string // sniffed from the bytes, in AllowedTypes: "image/jpeg"
	Ext   string // file extension of stored objects: "jpg"
	Input bool   // can be decoded
	OptIn bool   // decoded only when listed in AllowedTypes explicitly
	// Output: variants can be made in it (formats of a source type).
	Output bool
}

// ContentType is the Content-Type of stored objects of the format.
func (f Format) ContentType() string { return f.MIME }

// formats is the one table of formats.
var formats = []Format{
	{Name: "jpeg", MIME: "image/jpeg", Ext: "jpg", Input: true},
	{Name: "png", MIME: "image/png", Ext: "png", Input: true},
	{Name: "webp", MIME: "image/webp", Ext: "webp", Input: true, Output: true},
	{Name: "gif", MIME: "image/gif", Ext: "gif", Input: true},
	{Name: "avif", MIME: "image/avif", Ext: "avif", Input: true, OptIn: true, Output: true},
	{Name: "heic", MIME: "image/heic", Ext: "heic", Input: true, OptIn: true},
}

// Formats returns the format table.
func Formats() []Format { return slices.Clone(formats) }

// FormatOf returns the format sniffed as mime.
func FormatOf(mime string) (Format, bool) {
	i := slices.IndexFunc(formats, func(f Format) bool { return f.MIME == mime })
	if i < 0 {
		return Format{}, false
	}
	return formats[i], true
}

// FormatNamed returns the format called name ("jpeg", "webp", ...).
func FormatNamed(name string) (Format, bool) {
	i := slices.IndexFunc(formats, func(f Format) bool { return f.Name == name })
	if i < 0 {
		return Format{}, false
	}
	return formats[i], true
}

// DefaultAllowedTypes returns the MIME types decoded by default: every
// input format that is not opt-in (JPEG, PNG, WebP, GIF). SVG and anything
// else are never decoded.
func DefaultAllowedTypes() []string {
	var out []string
	for _, f := range formats {
		if f.Input && !f.OptIn {
			out = append(out, f.MIME)
		}
	}
	return out
}

// ValidateAllowedTypes reports a MIME type that cannot be decoded.
func ValidateAllowedTypes(types []string) error {
	for _, t := range types {
		if f, ok := FormatOf(t); !ok || !f.Input {
			var known []string
			for _, f := range formats {
				if f.Input {
					known = append(known, f.MIME)
				}
			}
			return fmt.Errorf("allowed type %q cannot be decoded (choose from %v)", t, known)
		}
	}
	return nil
}
