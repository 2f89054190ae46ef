package phash

import (
	"errors"
	"fmt"
	"image"
	_ "image/gif" // the fixtures' formats
	_ "image/jpeg"
	_ "image/png"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "golang.org/x/image/webp"

	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// photo is one real picture, upright, and the name of the picture it shows.
type photo struct {
	file, picture string
	img           image.Image
}

// loadPhotos decodes every fixture Go can read that is at least 32 px
// wide. Landscape_N and Portrait_N hold one picture each, stored in the
// eight EXIF orientations (N): they are turned upright here, as the
// pipeline does before hashing, and become copies of _1. Photos larger
// than 800 px are first reduced to that, to keep the test quick.
func loadPhotos(t *testing.T) []photo {
	dir := testimages.SharedDir()
	if dir == "" {
		t.Skip("the shared test photos are absent (shared/testdata/images beside the module, or $XIP_TESTDATA)")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*")) // the pattern is well-formed
	var photos []photo
	for _, f := range files {
		r, err := os.Open(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		img, _, err := image.Decode(r)
		r.Close()
		if err != nil || img.Bounds().Dx() < 32 {
			continue // not an image, a broken one on purpose, AVIF, or tiny
		}
		if b := img.Bounds(); max(b.Dx(), b.Dy()) > 800 {
			f := 800 / float64(max(b.Dx(), b.Dy()))
			img = resized(f)(img)
		}
		name := filepath.Base(f)
		p := photo{file: name, picture: name, img: img}
		for _, series := range []string{"Landscape_", "Portrait_"} {
			if n, ok := strings.CutPrefix(name, series); ok {
				p.picture = series + "1.jpg"
				p.img = testimages.Display(img, int(n[0]-'0'))
			}
		}
		photos = append(photos, p)
	}
	return photos
}

// Real photos: every recoding (JPEG, resizing, brightness) and every
// upright copy from another EXIF orientation is within NearDuplicate of
// its picture, and any two different pictures are beyond it. Crops are
// reported, not required. The log has the distances.
//
// Two fixtures are set apart. gamma_dalai_lama_gray.jpg is made of fine
// stripes whose average depends on the resampler (it exists to catch
// resizers that average in gamma space): its recodings are reported, and
// it must only stay apart from the other pictures. with-alpha.png is one
// flat colour with no structure to hash: it must hash to 0.
func TestHashRealPhotos(t *testing.T) {
	t.Parallel()
	photos := loadPhotos(t)
	const unstable, flatFile = "gamma_dalai_lama_gray.jpg", "with-alpha.png"

	hashes := make(map[string]uint64) // file -> hash
	for _, p := range photos {
		hashes[p.file] = Hash(thumbnail(p.img, recommendedWidth))
	}
	if h, ok := hashes[flatFile]; ok && h != 0 {
		t.Errorf("%s is one flat colour: hash %#x, want 0", flatFile, h)
	}

	worstCopy, worstCrop := 0, 0
	for _, p := range photos {
		if p.picture != p.file {
			d := Distance(hashes[p.file], hashes[p.picture])
			worstCopy = max(worstCopy, d)
			if d > NearDuplicate {
				t.Errorf("%s upright against %s: distance %d, want <= %d", p.file, p.picture, d, NearDuplicate)
			}
			continue // the same picture: its variants would repeat _1's
		}
		if p.file == flatFile {
			continue
		}
		var report []string
		for i, v := range allVariants() {
			d := Distance(hashes[p.file], Hash(thumbnail(v.make(p.img), recommendedWidth)))
			report = append(report, fmt.Sprintf("%s %d", v.name, d))
			switch {
			case i >= len(recodings) && i < len(recodings)+len(lightCrops):
				worstCrop = max(worstCrop, d)
			case i < len(recodings) && p.file != unstable:
				worstCopy = max(worstCopy, d)
				if d > NearDuplicate {
					t.Errorf("%s, %s: distance %d, want <= %d", p.file, v.name, d, NearDuplicate)
				}
			}
		}
		t.Logf("%s: %s", p.file, strings.Join(report, ", "))
	}

	closest := 64
	histogram := make([]int, 65)
	for i, p := range photos {
		for _, q := range photos[i+1:] {
			if p.picture == q.picture || p.file == flatFile || q.file == flatFile {
				continue
			}
			d := Distance(hashes[p.file], hashes[q.file])
			histogram[d]++
			closest = min(closest, d)
			if d <= NearDuplicate {
				t.Errorf("%s and %s are different pictures: distance %d, want > %d", p.file, q.file, d, NearDuplicate)
			}
		}
	}
	t.Logf("%d files: recodings and upright copies at most %d bits from their picture (light crops up to %d); different pictures at least %d apart; %s",
		len(photos), worstCopy, worstCrop, closest, describe(histogram))
}
