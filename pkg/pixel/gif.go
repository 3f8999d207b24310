package pixel

import "github.com/valyala/fasthttp"

// GIF is the 43-byte transparent 1×1 GIF every pixel request is answered with.
var GIF = []byte{
	'G', 'I', 'F', '8', '9', 'a', // header
	0x01, 0x00, 0x01, 0x00, // 1×1
	0x80, 0x00, 0x00, // global colour table of 2 entries
	0x00, 0x00, 0x00, 0xff, 0xff, 0xff, // black, white
	0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, // graphic control: colour 0 transparent
	0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, // image descriptor
	0x02, 0x02, 0x44, 0x01, 0x00, // LZW image data
	0x3b, // trailer
}

var (
	contentTypeGIF = []byte("image/gif")

	// Canonical header names, which SetCanonical takes as they are.
	headerCacheControl = []byte(fasthttp.HeaderCacheControl)
	headerPragma       = []byte(fasthttp.HeaderPragma)
	headerExpires      = []byte(fasthttp.HeaderExpires)
	headerCORP         = []byte("Cross-Origin-Resource-Policy")

	noCache     = []byte("no-cache, no-store, must-revalidate, private, max-age=0")
	pragma      = []byte("no-cache")
	expires     = []byte("0")
	crossOrigin = []byte("cross-origin")
)

// WriteGIF answers with 200 and the 43-byte GIF, with headers that keep every
// cache away and let any site embed it.
func WriteGIF(ctx *fasthttp.RequestCtx) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	hdr := &ctx.Response.Header
	hdr.SetContentTypeBytes(contentTypeGIF)
	hdr.SetCanonical(headerCacheControl, noCache)
	hdr.SetCanonical(headerPragma, pragma)
	hdr.SetCanonical(headerExpires, expires)
	hdr.SetCanonical(headerCORP, crossOrigin)
	ctx.Response.SetBodyRaw(GIF)
}
