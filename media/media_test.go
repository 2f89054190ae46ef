package media_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/media"
	"github.com/ximagepipeline/ximagepipeline/moderation"
)

func TestFormatTable(t *testing.T) {
	t.Parallel()
	for _, f := range media.Formats() {
		byMIME, ok := media.FormatOf(f.MIME)
		if !ok || byMIME != f {
			t.Errorf("FormatOf(%q) = %v, %v; want %v", f.MIME, byMIME, ok, f)
		}
		byName, ok := media.FormatNamed(f.Name)
		if !ok || byName != f {
			t.Errorf("FormatNamed(%q) = %v, %v; want %v", f.Name, byName, ok, f)
		}
	}
	if jpeg, _ := media.FormatNamed("jpeg"); jpeg.Ext != "jpg" || jpeg.ContentType() != "image/jpeg" {
		t.Errorf("jpeg = %+v, want ext jpg and content type image/jpeg", jpeg)
	}
	if _, ok := media.FormatOf("image/svg+xml"); ok {
		t.Error("SVG is in the format table: it must never be decoded")
	}
	want := []string{"image/jpeg", "image/png", "image/webp", "image/gif"}
	if got := media.DefaultAllowedTypes(); !slices.Equal(got, want) {
		t.Errorf("DefaultAllowedTypes() = %v, want %v", got, want)
	}
	if err := media.ValidateAllowedTypes([]string{"image/avif", "image/heic"}); err != nil {
		t.Errorf("opt-in types refused: %v", err)
	}
	if err := media.ValidateAllowedTypes([]string{"image/tiff"}); err == nil || !strings.Contains(err.Error(), "cannot be decoded") {
		t.Errorf("image/tiff: %v, want 'cannot be decoded'", err)
	}
}

func TestSourceTypeDefaultsAndValidation(t *testing.T) {
	t.Parallel()
	variants := media.DefaultVariants()
	st := media.SourceType{Variants: []string{"sm", "xl"}}.WithDefaults()
	if st.Quality != media.DefaultQuality || !slices.Equal(st.Formats, []string{"webp"}) || st.FrameLimit() != media.DefaultMaxFrames {
		t.Errorf("defaults: %+v, frame limit %d", st, st.FrameLimit())
	}
	if err := st.Validate(variants); err != nil {
		t.Errorf("valid source type refused: %v", err)
	}
	got := st.Resolve(variants)
	if len(got) != 2 || got[0].Name != "sm" || got[0].Fit != media.FitCover || got[1].Width != 1200 || got[1].Fit != media.FitInside {
		t.Errorf("Resolve = %+v", got)
	}
	for _, c := range []struct {
		st   media.SourceType
		want string
	}{
		{media.SourceType{}, "has no variants"},
		{media.SourceType{Variants: []string{"nope"}}, `uses variant "nope"`},
		{media.SourceType{Variants: []string{"sm"}, Quality: 101}, "quality 101"},
		{media.SourceType{Variants: []string{"sm"}, MaxFrames: -1}, "maxFrames -1"},
		{media.SourceType{Variants: []string{"sm"}, Formats: []string{"avif"}}, "must start with"},
		{media.SourceType{Variants: []string{"sm"}, Formats: []string{"webp", "png"}}, `format "png"`},
		{media.SourceType{Variants: []string{"sm"}, Moderation: &moderation.Policy{MinConfidence: 2}}, "minConfidence"},
	} {
		err := c.st.WithDefaults().Validate(variants)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want %q", c.st, err, c.want)
		}
	}
	for _, c := range []struct {
		v    media.VariantSpec
		want string
	}{
		{media.VariantSpec{Width: 0}, "width must be"},
		{media.VariantSpec{Width: 10, Fit: "fill"}, `fit "fill"`},
		{media.VariantSpec{Width: 10, Fit: media.FitCover}, "needs a height"},
	} {
		if err := c.v.WithDefaults().Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want %q", c.v, err, c.want)
		}
	}
}

func TestValidName(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"a", "user-1", "A.b_c", strings.Repeat("x", 128)} {
		if !media.ValidName(s) {
			t.Errorf("ValidName(%q) = false", s)
		}
	}
	for _, s := range []string{"", ".", "..", "a/b", "a b", "é", strings.Repeat("x", 129)} {
		if media.ValidName(s) {
			t.Errorf("ValidName(%q) = true", s)
		}
	}
}
