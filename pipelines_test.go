package ximagepipeline_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// TestPipelinesKeepTheirOwnTypes: two pipelines in one process, a default
// one first, then one that allows AVIF. libvips is one per process, and its
// first settings used to be every pipeline's: the second pipeline accepted
// an AVIF upload and then failed it ("avif input is not enabled"). Each
// pipeline now decodes what its own config allows: the second completes
// the AVIF, and processing with the default config still refuses it.
func TestPipelinesKeepTheirOwnTypes(t *testing.T) {
	t.Parallel()
	avif := avifFile(t)
	first := newEnv(t, nil)
	second := newEnv(t, func(c *xip.Config) { c.AllowedTypes = []string{"image/jpeg", "image/avif"} })

	m := second.waitMedia(second.uploadOK("gallery", "u1", "a.avif", avif))
	if m["format"] != "avif" || m["width"] != float64(120) || m["height"] != float64(80) {
		t.Errorf("media %v, want an avif of 120x80", m)
	}
	code, body := first.upload(field("sourceType", "gallery"), field("sourceId", "u1"), file("a.avif", avif))
	if want := errBody("File type image/avif not allowed", "FILE_TYPE_NOT_ALLOWED"); code != 400 || !jsonEqual(body, want) {
		t.Errorf("the default pipeline: %d %v, want 400 %v", code, body, want)
	}
	// What the default pipeline's worker would do with one (queued by an
	// API server configured otherwise, say).
	if _, err := xip.ProcessImage(context.Background(), xip.Config{}, "gallery", avif); err == nil || !strings.Contains(err.Error(), "avif input is not enabled") {
		t.Errorf("processing with the default config: %v, want avif input is not enabled", err)
	}
}

// avifFile returns a 120x80 AVIF, made by ProcessImage as the AVIF
// variant of a JPEG.
func avifFile(t *testing.T) []byte {
	t.Helper()
	cfg := xip.Config{SourceTypes: map[string]xip.SourceType{"t": {Variants: []string{"md"}, Formats: []string{"webp", "avif"}}}}
	res, err := xip.ProcessImage(context.Background(), cfg, "t", testimages.JPEG(testimages.Quadrants(120, 80), 90))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Outputs {
		if o.Format == "avif" {
			return o.Data
		}
	}
	t.Fatal("no AVIF output")
	return nil
}

// TestWebPEffortConfigured: Config.WebPEffort reaches the encoder (effort
// 2 makes other bytes than the default's per-output choice) and the
// outputs stay what the source type asks for.
func TestWebPEffortConfigured(t *testing.T) {
	t.Parallel()
	src := testimages.JPEG(testimages.Scene(3, 900, 600), 90)
	outputs := func(effort int) map[string][]byte {
		t.Helper()
		res, err := xip.ProcessImage(context.Background(), xip.Config{WebPEffort: effort}, "gallery", src)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]byte{}
		for _, o := range res.Outputs {
			if o.Format == "webp" {
				out[o.Name] = o.Data
			}
		}
		return out
	}
	chosen, fast := outputs(0), outputs(2)
	if len(chosen) != 3 || len(fast) != 3 {
		t.Fatalf("webp outputs %d and %d, want the gallery's 3 each", len(chosen), len(fast))
	}
	for name, b := range chosen {
		if bytes.Equal(b, fast[name]) {
			t.Errorf("%s: the same bytes at effort 2 as at the default (4): the setting did not reach the encoder", name)
		}
	}
}
