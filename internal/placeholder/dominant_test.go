package placeholder

import (
	"image"
	"image/color"
	"math/rand/v2"
	"testing"
)

func TestDominantColour(t *testing.T) {
	t.Parallel()
	teal := color.NRGBA{20, 120, 140, 255}
	red := color.NRGBA{210, 30, 40, 255}
	blue := color.NRGBA{30, 60, 200, 255}
	green := color.NRGBA{40, 170, 60, 255}
	yellow := color.NRGBA{240, 220, 50, 255}
	grey := color.NRGBA{128, 128, 128, 255}
	rnd := rand.New(rand.NewPCG(1, 2))

	// columns paints vertical bands: colours[i] from x = starts[i] on.
	columns := func(w, h int, starts []int, colours ...func(x, y int) color.NRGBA) *image.NRGBA {
		return synth(w, h, func(x, y int) color.NRGBA {
			i := 0
			for i+1 < len(starts) && x >= starts[i+1] {
				i++
			}
			return colours[i](x, y)
		})
	}
	flat := func(c color.NRGBA) func(x, y int) color.NRGBA {
		return func(x, y int) color.NRGBA { return c }
	}
	// jitter is c with each channel moved by up to +-n levels at random.
	jitter := func(c color.NRGBA, n int) func(x, y int) color.NRGBA {
		return func(x, y int) color.NRGBA {
			j := func(v uint8) uint8 { return uint8(min(255, max(0, int(v)+rnd.IntN(2*n+1)-n))) }
			return color.NRGBA{j(c.R), j(c.G), j(c.B), c.A}
		}
	}
	noise := func(x, y int) color.NRGBA {
		return color.NRGBA{uint8(rnd.IntN(256)), uint8(rnd.IntN(256)), uint8(rnd.IntN(256)), 255}
	}
	warmGradient := func(x, y int) color.NRGBA { // yellow to red, far from teal
		return color.NRGBA{240, uint8(220 - 190*y/39), uint8(50 - 10*y/39), 255}
	}
	withAlpha := func(c color.NRGBA, a uint8) color.NRGBA { c.A = a; return c }

	tests := []struct {
		name      string
		img       image.Image
		want      color.NRGBA
		tolerance int // per channel
	}{
		{"70% one colour, 30% a gradient", columns(50, 40, []int{0, 35}, flat(teal), warmGradient), teal, 0},
		{"70% one colour, 30% noise", columns(50, 40, []int{0, 35}, flat(teal), noise), teal, 1},
		{"70% shades of one colour, 30% others", columns(50, 40, []int{0, 35, 45}, jitter(teal, 6), flat(red), flat(yellow)), teal, 2},
		{"two colours, 55% red", columns(40, 30, []int{0, 18}, flat(blue), flat(red)), red, 0},
		{"two colours, 55% blue", columns(40, 30, []int{0, 22}, flat(blue), flat(red)), blue, 0},
		{"a plurality of 40% against four of 15%", columns(40, 10, []int{0, 6, 12, 18, 24}, flat(red), flat(blue), flat(green), flat(yellow), flat(teal)), teal, 0},
		{"sky shades (45%) against flat red (30%) and green (25%)", columns(40, 30, []int{0, 18, 30},
			func(x, y int) color.NRGBA {
				return color.NRGBA{uint8(90 + y/2), uint8(150 + y/2), uint8(220 + y/3), 255}
			},
			flat(red), flat(green)), color.NRGBA{97, 157, 225, 255}, 3},
		{"60% transparent red, 40% blue", columns(50, 20, []int{0, 30}, flat(withAlpha(red, 0)), flat(blue)), blue, 0},
		{"70% faint red (alpha 40), 30% blue", columns(50, 20, []int{0, 35}, flat(withAlpha(red, 40)), flat(blue)), blue, 0},
		{"half-transparent colour alone", columns(8, 8, []int{0}, flat(withAlpha(red, 128))), red, 0},
		{"70% one colour at 400x300, reduced first", columns(400, 300, []int{0, 120}, flat(yellow), flat(grey)), grey, 0},
		{"nothing visible", columns(8, 8, []int{0}, flat(color.NRGBA{10, 20, 30, 0})), color.NRGBA{}, 0},
	}
	for _, tt := range tests {
		got := DominantColour(tt.img)
		for c, pair := range [][2]uint8{{got.R, tt.want.R}, {got.G, tt.want.G}, {got.B, tt.want.B}, {got.A, tt.want.A}} {
			if d := int(pair[0]) - int(pair[1]); d < -tt.tolerance || d > tt.tolerance {
				t.Errorf("%s: DominantColour = %v, want %v (channel %d off by %d)", tt.name, got, tt.want, c, d)
				break
			}
		}
	}
}

func TestHex(t *testing.T) {
	t.Parallel()
	if got := Hex(color.NRGBA{1, 2, 255, 128}); got != "#0102ff" {
		t.Errorf("Hex = %q, want #0102ff", got)
	}
}

// Oklab puts white at lightness 1 with no chroma and black at 0, and sets
// a red and a green of equal sRGB value far apart.
func TestOklab(t *testing.T) {
	t.Parallel()
	near := func(a, b float64) bool { return a-b < 1e-4 && b-a < 1e-4 }
	if w := oklab(255, 255, 255); !near(w[0], 1) || !near(w[1], 0) || !near(w[2], 0) {
		t.Errorf("white = %v, want [1 0 0]", w)
	}
	if k := oklab(0, 0, 0); !near(k[0], 0) || !near(k[1], 0) || !near(k[2], 0) {
		t.Errorf("black = %v, want [0 0 0]", k)
	}
	// Published Oklab of sRGB red: L 0.62796, a 0.22486, b 0.12585.
	if r := oklab(255, 0, 0); !near(r[0], 0.62796) || !near(r[1], 0.22486) || !near(r[2], 0.12585) {
		t.Errorf("red = %v, want [0.62796 0.22486 0.12585]", r)
	}
}
