package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
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

// TestMinifyKeepsES5 checks the target: ES2015 syntax that esbuild can
// lower comes out as ES5, and the rest stops the generator, so that an edit
// of px.js cannot ship syntax that old browsers refuse.
func TestMinifyKeepsES5(t *testing.T) {
	es2015 := regexp.MustCompile("=>|`|\\.\\.\\.")
	for _, src := range []string{"var f = () => 1;", "var s = `a${f()}`;", "var o = {...{a: 1}};"} {
		out, err := minify([]byte(src))
		if err != nil || es2015.Match(out) {
			t.Errorf("%s: %q, %v; want it lowered to ES5", src, out, err)
		}
	}
	for _, src := range []string{"let x = 1;", "const c = 1;", "class A {}", "for (var x of [1]) {}", "var {a} = {a: 1};", "async function f() { await 1; }", "var f = function (a = 1) { return a; };"} {
		if out, err := minify([]byte(src)); err == nil {
			t.Errorf("%s: %q; want an error, ES5 has no such syntax", src, out)
		}
	}
}
