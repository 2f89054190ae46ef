package imaging

import (
	"os"
	"testing"
	"time"
)

func TestTiming(t *testing.T) {
	src, _ := os.ReadFile(testImage(t, "2569067123_aca715a2ee_o.jpg"))
	Start(Config{Concurrency: 1})
	buf := newCBuffer(src)
	for range 3 {
		t0 := time.Now()
		base, err := decode(buf, 1200, false)
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		out := []time.Duration{t1.Sub(t0)}
		for _, w := range []int{1200, 800, 400} {
			t2 := time.Now()
			img := base
			if w != 1200 {
				img, _ = base.Resize(w, w*base.Height()/base.Width())
			}
			t3 := time.Now()
			img.Encode("webp", 82)
			out = append(out, t3.Sub(t2), time.Since(t3))
		}
		t.Log(out)
	}
}
