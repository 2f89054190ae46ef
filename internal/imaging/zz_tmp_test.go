package imaging

import (
	"context"
	"fmt"
	"testing"
)

func TestZZRatio(t *testing.T) {
	var ratio float64
	debugFocal = func(r float64) { ratio = r }
	srcs := map[string][]byte{
		"disc":  makeJPEG(t, subjectPicture(900, 300, 765, 150, 70, false, checkered), 1),
		"face":  makeJPEG(t, subjectPicture(300, 900, 150, 170, 60, false, face(60)), 1),
		"trans": makePNG(t, subjectPicture(900, 300, 120, 150, 70, true, checkered)),
		"quad":  makeJPEG(t, quadrants(600, 400), 1),
	}
	for o := 1; o <= 8; o++ {
		for _, k := range []string{"Landscape", "Portrait"} {
			f := fmt.Sprintf("%s_%d.jpg", k, o)
			srcs[f] = readTestImage(t, f)
		}
	}
	for _, f := range []string{"Landscape_1.jpg", "Landscape_3.jpg", "Portrait_1.jpg", "Portrait_5.jpg", "2569067123_aca715a2ee_o.jpg", "blackbug.png", "with-alpha.png", "4.webp", "320x240.jpg", "Channel_digital_image_CMYK_color.jpg", "16-bit-grey-alpha.png", "animated-loop-3.gif"} {
		srcs[f] = readTestImage(t, f)
	}
	for name, src := range srcs {
		ratio = 0
		res, err := Process(context.Background(), src, Options{Variants: avatarPreset})
		if err != nil {
			t.Fatal(err)
		}
		t.Log(fmt.Sprintf("%-40s ratio %.2f focal (%.3f,%.3f)", name, ratio, res.FocalPoint.X, res.FocalPoint.Y))
	}
}
