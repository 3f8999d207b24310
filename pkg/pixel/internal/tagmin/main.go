// Command tagmin makes px.min.js, the JS tag the collector serves, from
// px.js, its readable source: `go generate ./pkg/pixel` runs it in
// pkg/pixel. The minifier is esbuild (its Go API, so that no Node.js
// packages are needed), with target ES5: the source is ES5 and the output
// must stay so, for old browsers. The result is committed, so that builds
// need neither this command nor the network; TestMinifiedIsCurrent fails
// when the committed file is not what this command makes.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
)

const (
	source = "px.js"
	output = "px.min.js"
	header = "/* pixel tag v2: made from px.js by go generate ./pkg/pixel; do not edit */\n"
)

func main() {
	src, err := os.ReadFile(source)
	if err != nil {
		fail(fmt.Errorf("read the tag's source (run in pkg/pixel, as go generate does): %w", err))
	}
	out, err := minify(src)
	if err != nil {
		fail(err)
	}
	if err := os.WriteFile(output, out, 0o644); err != nil {
		fail(fmt.Errorf("write the minified tag: %w", err))
	}
}

// minify is px.js as served: minified to ES5, ASCII only (so that no
// charset question arises), with the header that says where it comes from.
func minify(src []byte) ([]byte, error) {
	r := api.Transform(string(src), api.TransformOptions{
		Loader:            api.LoaderJS,
		Target:            api.ES5,
		MinifyWhitespace:  true,
		MinifyIdentifiers: true,
		MinifySyntax:      true,
		Charset:           api.CharsetASCII,
		LegalComments:     api.LegalCommentsNone,
		Sourcefile:        source,
	})
	if len(r.Errors) > 0 {
		msgs := api.FormatMessages(r.Errors, api.FormatMessagesOptions{Kind: api.ErrorMessage})
		return nil, fmt.Errorf("minify %s: %s", source, strings.Join(msgs, "\n"))
	}
	return append([]byte(header), r.Code...), nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "tagmin:", err)
	os.Exit(1)
}
