package collector

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"

	"github.com/valyala/fasthttp"
)

// jsTag is the JS tag as served: the script, its gzip form and their ETags,
// all computed once at start.
type jsTag struct {
	plain, gz    []byte
	etag, etagGz []byte
}

func newJSTag(src []byte) jsTag {
	sum := sha256.Sum256(src)
	h := hex.EncodeToString(sum[:8])
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level never fails
	_, _ = zw.Write(src)                                     // a bytes.Buffer never fails
	_ = zw.Close()
	return jsTag{plain: src, gz: buf.Bytes(), etag: []byte(`"` + h + `"`), etagGz: []byte(`"` + h + `-gz"`)}
}

var (
	contentTypeJS = []byte("application/javascript; charset=utf-8")
	cacheTag      = []byte("public, max-age=3600")
	strGzip       = []byte("gzip")
)

// tag serves GET /px.js: cached by browsers for an hour, revalidated with
// If-None-Match, gzip-compressed when the browser accepts it.
func (s *Server) tag(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() {
		s.methodNotAllowed(ctx, "GET, HEAD")
		return
	}
	t := &s.jsTag
	gz := ctx.Request.Header.HasAcceptEncodingBytes(strGzip)
	etag := t.etag
	if gz {
		etag = t.etagGz
	}
	hdr := &ctx.Response.Header
	hdr.SetContentTypeBytes(contentTypeJS)
	hdr.SetBytesV(fasthttp.HeaderCacheControl, cacheTag)
	hdr.SetBytesV(fasthttp.HeaderETag, etag)
	hdr.Set(fasthttp.HeaderVary, fasthttp.HeaderAcceptEncoding)
	hdr.Set(fasthttp.HeaderXContentTypeOptions, "nosniff")
	hdr.Set("Cross-Origin-Resource-Policy", "cross-origin")
	if inm := ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch); len(inm) > 0 && t.matches(inm) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	if gz {
		hdr.SetBytesV(fasthttp.HeaderContentEncoding, strGzip)
		ctx.Response.SetBodyRaw(t.gz)
		return
	}
	ctx.Response.SetBodyRaw(t.plain)
}

// matches reports whether an If-None-Match list names the tag (in either
// encoding: the script is the same), with the weak comparison RFC 9110 asks for.
func (t *jsTag) matches(inm []byte) bool {
	for len(inm) > 0 {
		var tag []byte
		tag, inm, _ = bytes.Cut(inm, comma)
		tag = bytes.TrimSpace(tag)
		tag = bytes.TrimPrefix(tag, weakPrefix)
		if string(tag) == "*" || bytes.Equal(tag, t.etag) || bytes.Equal(tag, t.etagGz) {
			return true
		}
	}
	return false
}

var (
	comma      = []byte{','}
	weakPrefix = []byte("W/")
)
