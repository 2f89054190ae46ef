package imaging

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestSmoke(t *testing.T) {
	files, _ := filepath.Glob("../../../shared/testdata/images/*")
	for _, f := range files {
		src, _ := os.ReadFile(f)
		h, herr := ReadHeader(bytesReader(src))
		res, err := Process(context.Background(), src, Options{Variants: []Variant{{"sm", 150, 150, FitCover}, {"md", 400, 0, FitInside}}, KeepOriginal: true})
		if err != nil {
			t.Logf("%s: hdr=%+v %v ERR %v", filepath.Base(f), h, herr, err)
			continue
		}
		t.Logf("%s: hdr=%+v %v src=%+v %dx%d %s %s %+v orig=%s %dx%d %d bytes", filepath.Base(f), h, herr, res.Source, res.Width, res.Height, res.AspectRatio, res.BlurHash, res.FocalPoint, res.Original.Format, res.Original.Width, res.Original.Height, len(res.Original.Data))
		for _, v := range res.Variants {
			t.Logf("   %s %s %dx%d %d", v.Name, v.Format, v.Width, v.Height, len(v.Data))
		}
	}
}
