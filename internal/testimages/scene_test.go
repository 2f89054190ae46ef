package testimages

import (
	"bytes"
	"testing"
)

func TestScene(t *testing.T) {
	t.Parallel()
	a, again := Scene(7, 120, 90), Scene(7, 120, 90)
	if !bytes.Equal(a.Pix, again.Pix) {
		t.Fatal("Scene(7) differs between two calls")
	}
	if b := a.Bounds(); b.Dx() != 120 || b.Dy() != 90 {
		t.Fatalf("Scene(7, 120, 90) is %v", b.Size())
	}
	// Another seed is another picture: most pixels differ clearly.
	other := Scene(8, 120, 90)
	differ := 0
	for i := 0; i < len(a.Pix); i += 4 {
		d := 0
		for c := range 3 {
			d += max(int(a.Pix[i+c])-int(other.Pix[i+c]), int(other.Pix[i+c])-int(a.Pix[i+c]))
		}
		if d > 30 {
			differ++
		}
	}
	if n := len(a.Pix) / 4; differ < n/2 {
		t.Errorf("Scene(7) and Scene(8) differ clearly in %d of %d pixels, want most", differ, n)
	}
}
