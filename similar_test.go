package ximagepipeline_test

import (
	"context"
	"errors"
	"image"
	"image/color"
	"net/http"
	"testing"

	xdraw "golang.org/x/image/draw"

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// TestSimilarTo: GET /media?similarTo= finds the copies of a picture in
// its source type (re-encoded, resized, as a PNG) and nothing else: not
// unrelated pictures, not the same picture under another source type, not
// itself; nearest first. A flat image has no near duplicates.
func TestSimilarTo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	scene := testimages.Scene(7, 960, 720)
	half := image.NewNRGBA(image.Rect(0, 0, 480, 360))
	xdraw.CatmullRom.Scale(half, half.Bounds(), scene, scene.Bounds(), xdraw.Src, nil)

	upload := func(sourceType, name string, data []byte) string {
		t.Helper()
		return e.waitMedia(e.uploadOK(sourceType, "owner-"+name, name, data))["id"].(string)
	}
	original := upload("gallery", "original.jpg", testimages.JPEG(scene, 92))
	copies := map[string]bool{
		upload("gallery", "recoded.jpg", testimages.JPEG(scene, 40)): true,
		upload("gallery", "half.jpg", testimages.JPEG(half, 85)):     true,
		upload("gallery", "copy.png", testimages.PNG(half)):          true,
	}
	upload("gallery", "other1.jpg", testimages.JPEG(testimages.Scene(8, 960, 720), 92))
	upload("gallery", "other2.jpg", testimages.JPEG(testimages.Scene(9, 960, 720), 92))
	upload("content", "elsewhere.jpg", testimages.JPEG(scene, 92))

	code, body := e.get(e.prefix() + "/media?similarTo=" + original)
	list, _ := body["media"].([]any)
	if code != http.StatusOK || len(list) != len(copies) {
		t.Fatalf("similarTo: %d with %d media, want 200 and the %d copies: %v", code, len(list), len(copies), body)
	}
	last := -1
	for _, item := range list {
		m := item.(map[string]any)
		d := int(m["distance"].(float64))
		if !copies[m["id"].(string)] || m["sourceType"] != "gallery" || d > xip.NearDuplicate || d < last {
			t.Errorf("match %s (%s) at distance %d after %d: want one of the copies, nearest first", m["id"], m["sourceType"], d, last)
		}
		if m["blurhash"] == "" || m["srcset"] == nil {
			t.Errorf("match %s is not a whole media object: %v", m["id"], m)
		}
		last = d
		t.Logf("copy %s at distance %d", m["id"], d)
	}

	solid := image.NewNRGBA(image.Rect(0, 0, 300, 200))
	xdraw.Draw(solid, solid.Bounds(), image.NewUniform(color.NRGBA{40, 90, 160, 255}), image.Point{}, xdraw.Src)
	flat := upload("gallery", "flat.png", testimages.PNG(solid))
	if code, body := e.get(e.prefix() + "/media?similarTo=" + flat); code != http.StatusOK || len(body["media"].([]any)) != 0 {
		t.Errorf("similarTo a flat image: %d %v, want 200 and none", code, body)
	}
	if code, body := e.get(e.prefix() + "/media?similarTo=med_nope"); code != http.StatusNotFound || !jsonEqual(body, errBody("Media not found", "MEDIA_NOT_FOUND")) {
		t.Errorf("similarTo an unknown media: %d %v, want 404 MEDIA_NOT_FOUND", code, body)
	}
	if _, err := e.p.SimilarTo(context.Background(), "med_nope"); !errors.Is(err, xip.ErrMediaNotFound) {
		t.Errorf("SimilarTo(unknown): %v, want ErrMediaNotFound", err)
	}
	matches, err := e.p.SimilarTo(context.Background(), original)
	if err != nil || len(matches) != len(copies) {
		t.Errorf("SimilarTo: %d matches, %v; want the %d copies", len(matches), err, len(copies))
	}
}
