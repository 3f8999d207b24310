package pixel

import (
	"bytes"
	"image/gif"
	"testing"
)

func TestGIF(t *testing.T) {
	if len(GIF) != 43 {
		t.Fatalf("GIF has %d bytes, want 43", len(GIF))
	}
	img, err := gif.Decode(bytes.NewReader(GIF))
	if err != nil {
		t.Fatalf("image/gif cannot decode the pixel: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1 || b.Dy() != 1 {
		t.Fatalf("the pixel is %dx%d, want 1x1", b.Dx(), b.Dy())
	}
	if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
		t.Fatalf("the pixel has alpha %d, want transparent", a)
	}
}
