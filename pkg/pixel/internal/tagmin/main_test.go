package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestMinifiedIsCurrent fails when the committed px.min.js is not what
// tagmin makes from px.js: after editing px.js, run go generate ./pkg/pixel.
func TestMinifiedIsCurrent(t *testing.T) {
	dir := filepath.Join("..", "..")
	src, err := os.ReadFile(filepath.Join(dir, source))
	if err != nil {
		t.Fatal(err)
	}
	want, err := minify(src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, output))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("pkg/pixel/%s (%d bytes) is not what tagmin makes from %s (%d bytes): run go generate ./pkg/pixel and commit the result", output, len(got), source, len(want))
	}
}

// TestMinifyRefusesBadSource checks that a syntax error stops the generator
// with esbuild's message rather than writing a broken tag.
func TestMinifyRefusesBadSource(t *testing.T) {
	if _, err := minify([]byte("function (")); err == nil {
		t.Fatal("minify accepted a syntax error")
	}
}
