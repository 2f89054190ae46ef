package ximagepipeline_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// TestMediaRoutes covers GET /media/{id}, GET /media?sourceType&sourceId
// (newest first, only that owner's, an empty list when none) and
// DELETE /media/{id} (every stored object of it goes, the others stay; its
// job still answers).
func TestMediaRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	pre := e.prefix()

	// Three gallery images of one owner, each finished before the next is
	// sent so that "newest first" has one answer; and neighbours that must
	// not be listed with them.
	var jobs []string
	var media []map[string]any
	for i, w := range []int{120, 160, 200} {
		id := e.uploadOK("gallery", "owner-1", "a.jpg", testimages.JPEG(testimages.Quadrants(w, 90), 90))
		jobs = append(jobs, id)
		media = append(media, e.waitMedia(id))
		if media[i]["width"] != float64(w) {
			t.Fatalf("media %d: width %v, want %d", i, media[i]["width"], w)
		}
	}
	e.waitMedia(e.uploadOK("avatar", "owner-1", "a.jpg", testimages.JPEG(testimages.Quadrants(80, 80), 90)))
	e.waitMedia(e.uploadOK("gallery", "owner-2", "a.jpg", testimages.JPEG(testimages.Quadrants(80, 80), 90)))

	t.Run("get", func(t *testing.T) {
		e := e.sub(t)
		for _, m := range media {
			code, body := e.get(pre + "/media/" + m["id"].(string))
			if code != http.StatusOK || !jsonEqual(body, m) {
				t.Errorf("GET media %v: %d %v, want 200 and the status' media %v", m["id"], code, body, m)
			}
		}
		code, body := e.get(pre + "/media/med_nope")
		if want := errBody("Media not found", "MEDIA_NOT_FOUND"); code != http.StatusNotFound || !jsonEqual(body, want) {
			t.Errorf("unknown media: %d %v, want 404 %v", code, body, want)
		}
	})

	t.Run("list", func(t *testing.T) {
		e := e.sub(t)
		code, body := e.get(pre + "/media?sourceType=gallery&sourceId=owner-1")
		want := map[string]any{"media": []any{media[2], media[1], media[0]}}
		if code != http.StatusOK || !jsonEqual(body, want) {
			t.Errorf("list: %d %v\nwant 200 the three gallery media, newest first: %v", code, ids(body), []any{media[2]["id"], media[1]["id"], media[0]["id"]})
		}
		code, body = e.get(pre + "/media?sourceType=avatar&sourceId=owner-1")
		if list, _ := body["media"].([]any); code != http.StatusOK || len(list) != 1 {
			t.Errorf("avatar list: %d %v, want the one avatar", code, body)
		}
		for _, q := range []string{"sourceType=gallery&sourceId=nobody", "sourceType=hero&sourceId=owner-1", "sourceType=nope&sourceId=owner-1"} {
			code, raw, _ := e.fetchAny(pre + "/media?" + q)
			if code != http.StatusOK || string(raw) != "{\"media\":[]}\n" {
				t.Errorf("%s: %d %q, want 200 {\"media\":[]}", q, code, raw)
			}
		}
		// Without the owner the list is refused (the contract only defines
		// the query with both parameters).
		code, body = e.get(pre + "/media?sourceType=gallery")
		if want := errBody("sourceType and sourceId are required", "MISSING_FIELDS"); code != http.StatusBadRequest || !jsonEqual(body, want) {
			t.Errorf("list without sourceId: %d %v, want 400 %v", code, body, want)
		}
	})

	t.Run("delete", func(t *testing.T) {
		e := e.sub(t)
		victim := media[1]
		id := victim["id"].(string)
		mediaDir, origDir := "media/gallery/owner-1/"+id, "originals/gallery/owner-1/"+id
		if f := e.files(mediaDir); len(f) != 3 {
			t.Fatalf("before delete: %v under %s, want the 3 variants", f, mediaDir)
		}
		if f := e.files(origDir); len(f) != 1 {
			t.Fatalf("before delete: %v under %s, want the original", f, origDir)
		}
		before := len(e.files("media")) + len(e.files("originals"))

		code, body := e.delete(pre + "/media/" + id)
		if code != http.StatusNoContent || body != nil {
			t.Fatalf("DELETE: %d %v, want 204 with no body", code, body)
		}
		if f := append(e.files(mediaDir), e.files(origDir)...); len(f) > 0 {
			t.Errorf("after delete, still stored: %v", f)
		}
		if after := len(e.files("media")) + len(e.files("originals")); after != before-4 {
			t.Errorf("%d files stored after delete, want %d: other media were touched", after, before-4)
		}
		for _, u := range victim["urls"].(map[string]any) {
			if code, _, _ := e.fetchAny(u.(string)); code != http.StatusNotFound {
				t.Errorf("GET %s after delete: %d, want 404", u, code)
			}
		}
		if code, _, _ := e.fetchAny(victim["originalUrl"].(string)); code != http.StatusNotFound {
			t.Errorf("GET original after delete: %d, want 404", code)
		}
		for _, u := range media[0]["urls"].(map[string]any) {
			e.fetch(u.(string)) // the neighbours still serve
		}

		notFound := errBody("Media not found", "MEDIA_NOT_FOUND")
		if code, body := e.get(pre + "/media/" + id); code != http.StatusNotFound || !jsonEqual(body, notFound) {
			t.Errorf("GET after delete: %d %v, want 404 %v", code, body, notFound)
		}
		if code, body := e.delete(pre + "/media/" + id); code != http.StatusNotFound || !jsonEqual(body, notFound) {
			t.Errorf("DELETE again: %d %v, want 404 %v", code, body, notFound)
		}
		if code, body := e.delete(pre + "/media/med_nope"); code != http.StatusNotFound || !jsonEqual(body, notFound) {
			t.Errorf("DELETE unknown: %d %v, want 404 %v", code, body, notFound)
		}
		_, body = e.get(pre + "/media?sourceType=gallery&sourceId=owner-1")
		if got := ids(body); len(got) != 2 || got[0] != media[2]["id"] || got[1] != media[0]["id"] {
			t.Errorf("list after delete: %v, want [%v %v]", got, media[2]["id"], media[0]["id"])
		}

		// The job that made it keeps its history: still COMPLETE (200), with
		// media null.
		code, body = e.status(jobs[1])
		if want := map[string]any{"jobId": jobs[1], "status": "COMPLETE", "media": nil}; code != http.StatusOK || !jsonEqual(body, want) {
			t.Errorf("status of the deleted media's job: %d %v, want 200 %v", code, body, want)
		}
	})
}

func ids(body map[string]any) []any {
	var out []any
	list, _ := body["media"].([]any)
	for _, m := range list {
		out = append(out, m.(map[string]any)["id"])
	}
	return out
}

// TestConfigRoute: GET /config shows the source types, variants and
// presets in effect, the contract's defaults when none are configured.
func TestConfigRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(cfg *xip.Config) { cfg.DisableWorkers = true })
	code, body := e.get(e.prefix() + "/config")
	if code != http.StatusOK {
		t.Fatalf("GET config: %d %v", code, body)
	}
	presets := map[string][]string{}
	for name, st := range xip.DefaultSourceTypes() {
		presets[name] = st.Variants
	}
	want := map[string]any{
		"sourceTypes":    xip.DefaultSourceTypes(),
		"variants":       xip.DefaultVariants(),
		"variantPresets": presets,
	}
	if !jsonEqual(body, want) {
		got, _ := json.MarshalIndent(body, "", " ")
		t.Errorf("config:\n%s\nwant the defaults", got)
	}
	// Spot checks of the contract's table, as a client reads it.
	st := body["sourceTypes"].(map[string]any)
	if a := st["avatar"].(map[string]any); !jsonEqual(a, map[string]any{"variants": []string{"xs", "sm"}, "quality": 80, "storeOriginal": false, "formats": []string{"webp"}}) {
		t.Errorf("avatar: %v", a)
	}
	v := body["variants"].(map[string]any)
	if !jsonEqual(v["sm"], map[string]any{"width": 150, "height": 150, "fit": "cover"}) || !jsonEqual(v["2xl"], map[string]any{"width": 1920, "fit": "inside"}) {
		t.Errorf("variants sm %v, 2xl %v", v["sm"], v["2xl"])
	}
	if !jsonEqual(body["variantPresets"].(map[string]any)["hero"], []string{"lg", "xl", "2xl"}) {
		t.Errorf("hero preset: %v", body["variantPresets"].(map[string]any)["hero"])
	}
}

// TestAVIFVariants: with formats [webp, avif] the media's urls list the WebP
// files only, and its variants hold each AVIF file beside the WebP one
// under "{name}.avif", as the README says.
func TestAVIFVariants(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *xip.Config) {
		c.SourceTypes = map[string]xip.SourceType{"product": {Variants: []string{"sm", "md"}, Quality: 80, Formats: []string{"webp", "avif"}}}
	})
	m := e.waitMedia(e.uploadOK("product", "p1", "a.jpg", testimages.JPEG(testimages.Quadrants(300, 200), 90)))
	urls, _ := m["urls"].(map[string]any)
	variants, _ := m["variants"].(map[string]any)
	if len(urls) != 2 || len(variants) != 4 {
		t.Fatalf("urls %v, variants %v: want sm and md in urls, and sm, md, sm.avif, md.avif in variants", urls, variants)
	}
	for _, name := range []string{"sm", "md"} {
		webp, _ := variants[name].(map[string]any)
		avif, _ := variants[name+".avif"].(map[string]any)
		if webp == nil || avif == nil {
			t.Fatalf("variants %v: want %s and %s.avif", variants, name, name)
		}
		if url, _ := urls[name].(string); url != webp["url"] || !strings.HasSuffix(url, "/"+name+".webp") || webp["format"] != "webp" {
			t.Errorf("%s: urls has %q, variants %v: want the WebP file in both", name, url, webp)
		}
		url, _ := avif["url"].(string)
		if !strings.HasSuffix(url, "/"+name+".avif") || avif["format"] != "avif" || avif["width"] != webp["width"] || avif["height"] != webp["height"] {
			t.Errorf("%s.avif: %v, want the AVIF file of %v", name, avif, webp)
		}
		if data, ct := e.fetch(url); ct != "image/avif" || !bytes.Contains(data[:min(len(data), 32)], []byte("ftypavif")) {
			t.Errorf("%s: Content-Type %q, %d bytes starting %q: want an AVIF file", url, ct, len(data), data[:min(len(data), 32)])
		}
	}
}
