package imaging

import (
	"math"

	"github.com/ximagepipeline/ximagepipeline/internal/vips"
	"github.com/ximagepipeline/ximagepipeline/media"
)

// plan says how a variant is cut from the oriented source: keep a region
// of regionW x regionH source pixels (around the focal point), scaled by
// scale (<= 1) to outW x outH.
type plan struct {
	scale            float64
	regionW, regionH float64
	outW, outH       int
}

// planVariant plans v for an oriented source of w x h. Variants never
// enlarge. An inside variant wider than the source keeps the source size.
// A cover variant larger than the source in either direction becomes the
// largest centred crop with the variant's aspect ratio at the source's
// resolution: a 150x150 cover of a 100x80 source is 80x80.
func planVariant(v media.VariantSpec, w, h int) plan {
	fw, fh := float64(w), float64(h)
	if v.Fit == media.FitInside {
		s := min(1, float64(v.Width)/fw)
		if v.Height > 0 {
			s = min(s, float64(v.Height)/fh)
		}
		return plan{scale: s, regionW: fw, regionH: fh,
			outW: max(1, int(math.Round(fw*s))), outH: max(1, int(math.Round(fh*s)))}
	}
	vw, vh := float64(v.Width), float64(v.Height)
	if s := max(vw/fw, vh/fh); s <= 1 {
		return plan{scale: s, regionW: vw / s, regionH: vh / s, outW: v.Width, outH: v.Height}
	}
	// The box is bigger than the source: never enlarge, keep the largest
	// region with the box's aspect ratio instead.
	c := min(fw/vw, fh/vh)
	ow, oh := max(1, int(vw*c)), max(1, int(vh*c))
	return plan{scale: 1, regionW: float64(ow), regionH: float64(oh), outW: ow, outH: oh}
}

// cut makes one variant from base, which is the oriented source scaled by
// base.Width()/res.Width, around res.FocalPoint.
func cut(base vips.Image, p plan, res *Result) (vips.Image, error) {
	bw, bh := base.Width(), base.Height()
	sx, sy := float64(bw)/float64(res.Width), float64(bh)/float64(res.Height)
	rw := clamp(int(math.Round(p.regionW*sx)), 1, bw)
	rh := clamp(int(math.Round(p.regionH*sy)), 1, bh)
	left := clamp(int(math.Round(res.FocalPoint.X*float64(bw)-float64(rw)/2)), 0, bw-rw)
	top := clamp(int(math.Round(res.FocalPoint.Y*float64(bh)-float64(rh)/2)), 0, bh-rh)

	img, err := base.Crop(left, top, rw, rh)
	if err != nil || (rw == p.outW && rh == p.outH) {
		return img, err
	}
	defer img.Close()
	return img.Resize(p.outW, p.outH)
}

// cutFrames cuts variant p from every frame of the animation stacked in
// base, and stacks the results as an animation with a's timing.
func cutFrames(base vips.Image, a vips.Animation, p plan, res *Result) (vips.Image, error) {
	frames := make([]vips.Image, 0, a.Pages)
	defer func() {
		for _, f := range frames {
			f.Close()
		}
	}()
	for i := range a.Pages {
		page, err := base.Crop(0, i*a.PageHeight, base.Width(), a.PageHeight)
		if err != nil {
			return vips.Image{}, err
		}
		f, err := cut(page, p, res)
		page.Close() // f holds its own reference
		if err != nil {
			return vips.Image{}, err
		}
		frames = append(frames, f)
	}
	stack, err := vips.JoinFrames(frames)
	if err != nil {
		return vips.Image{}, err
	}
	defer stack.Close()
	out := a
	out.PageHeight = frames[0].Height()
	return stack.Animate(out)
}

// encodeVariant encodes one variant in format f: an animation as animated
// WebP, or as its first frame in AVIF. It returns the frames written.
func encodeVariant(img vips.Image, a vips.Animation, f string, quality, effort int) ([]byte, int, error) {
	if a.Pages <= 1 || f == "webp" {
		data, err := img.Encode(f, quality, effort)
		return data, max(1, a.Pages), err
	}
	still, err := img.Crop(0, 0, img.Width(), img.Height()/a.Pages)
	if err != nil {
		return nil, 0, err
	}
	defer still.Close()
	data, err := still.Encode(f, quality, effort)
	return data, 1, err
}

func clamp(v, lo, hi int) int { return max(lo, min(v, hi)) }
