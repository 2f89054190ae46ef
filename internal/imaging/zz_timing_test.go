package imaging

import (
	"testing"
	"time"
)

func best(n int, f func()) time.Duration {
	b := time.Hour
	for range n {
		t := time.Now()
		f()
		b = min(b, time.Since(t))
	}
	return b
}

func TestZZTiming(t *testing.T) {
	src := readTestImage(t, "2569067123_aca715a2ee_o.jpg")
	ready()
	buf := newCBuffer(src)
	full, _ := decode(buf, 2725, plainRGB)
	half, _ := decode(buf, 1362, plainRGB)
	small, _ := half.resizeOpts(0.2937, 0.2937, 5, 2)
	smallm, _ := small.Materialise()
	tiny, _ := half.resizeOpts(0.05, 0.05, 5, 2)
	tinym, _ := tiny.Materialise()
	for _, c := range []struct {
		name   string
		in     vimage
		s      float64
		kernel int
		gap    float64
	}{
		{"2725->1920 lanczos3", full, 0.7046, 5, 2},
		{"2725->1920 lanczos2", full, 0.7046, 4, 2},
		{"2725->1920 cubic", full, 0.7046, 2, 2},
		{"2725->1920 linear", full, 0.7046, 1, 2},
		{"2725->1920 mitchell", full, 0.7046, 3, 2},
		{"1362->1200 lanczos3", half, 0.881, 5, 2},
		{"1362->400 lanczos3", half, 0.2937, 5, 2},
		{"1362->400 lanczos3 gap1", half, 0.2937, 5, 1},
		{"1362->400 lanczos3 gap0", half, 0.2937, 5, 0},
		{"1362->32 lanczos3", half, 0.0235, 5, 2},
		{"1362->32 lanczos3 gap0", half, 0.0235, 5, 0},
		{"400->32", smallm, 0.08, 5, 2},
		{"68->34", tinym, 0.5, 5, 2},
		{"1362->32 linear", half, 0.0235, 1, 2},
	} {
		d := best(5, func() {
			r, err := c.in.resizeOpts(c.s, c.s, c.kernel, c.gap)
			if err != nil {
				t.Fatal(err)
			}
			m, _ := r.Materialise()
			r.Close()
			m.Close()
		})
		t.Logf("%s: %v", c.name, d)
	}
}
