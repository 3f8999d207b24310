package collector

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/registry"
)

// jsTag is the JS tag as served: GET /px.js is the generic tag;
// GET /px.js?id=ID is the same script followed by
// pixel('config','ID',{engagementSeconds:N,consent:'...'}) with the pixel's
// settings from the registry, when ID is a registered, active pixel (else
// the generic tag: an unknown id learns nothing, and costs no memory).
type jsTag struct {
	generic tagBody
	pixels  *tagCache
}

// tagBody is one script as served: its bytes, their gzip form and ETags,
// computed once.
type tagBody struct {
	plain, gz    []byte
	etag, etagGz []byte
	config       []byte // the pixel('config') call after the tag; nil for the generic tag
}

func newJSTag(src []byte) jsTag {
	return jsTag{generic: newTagBody(src, nil), pixels: &tagCache{src: src}}
}

func newTagBody(src, config []byte) tagBody {
	plain := append(append(make([]byte, 0, len(src)+len(config)), src...), config...)
	sum := sha256.Sum256(plain)
	h := hex.EncodeToString(sum[:8])
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level never fails
	_, _ = zw.Write(plain)                                   // a bytes.Buffer never fails
	_ = zw.Close()
	return tagBody{plain: plain, gz: buf.Bytes(), etag: []byte(`"` + h + `"`), etagGz: []byte(`"` + h + `-gz"`), config: config}
}

// configCall is the script line that hands p's settings to the tag. The
// id is URL-safe by the registry's rules; it is JSON-encoded all the same,
// so that no id can break out of the string.
func configCall(p *registry.Pixel) []byte {
	id, _ := json.Marshal(p.ID)                          // a string always encodes
	mode, _ := json.Marshal(p.Settings.Consent.String()) // likewise
	b := []byte(";pixel('config',")
	b = append(b, id...)
	b = append(b, ",{engagementSeconds:"...)
	b = strconv.AppendInt(b, int64(max(p.Settings.EngagementSeconds, 0)), 10)
	b = append(b, ",consent:"...)
	b = append(b, mode...)
	return append(b, "});\n"...)
}

// tagCache holds the per-pixel scripts of one registry snapshot. They are
// made on a pixel's first request after a snapshot arrives, not per
// request; a body whose config did not change is carried over from the
// previous snapshot, so that a registry refresh (every 10 s) does not gzip
// every pixel's tag again. Only registered, active pixels get an entry, so
// its size is bounded by the registry's.
type tagCache struct {
	src []byte

	mu   sync.RWMutex
	snap *registry.Snapshot
	byID map[string]*tagBody // snap's pixels asked for so far
	prev map[string]*tagBody // the snapshot before's, to reuse
}

// body returns the script for GET /px.js?id=id (id may be empty). It does
// not allocate once the pixel's body is made.
func (t *jsTag) body(id []byte, reg func() *registry.Snapshot) *tagBody {
	if len(id) == 0 || reg == nil || !urlSafeID(id) {
		return &t.generic
	}
	snap := reg()
	if p := snap.Lookup(id); p == nil || !p.Active() {
		return &t.generic
	}
	c := t.pixels
	c.mu.RLock()
	var b *tagBody
	if c.snap == snap {
		b = c.byID[string(id)]
	}
	c.mu.RUnlock()
	if b != nil {
		return b
	}
	if b = c.add(reg, id); b == nil {
		return &t.generic // gone from the registry in the meantime
	}
	return b
}

// add makes (or carries over) the body of pixel id in the registry's
// current snapshot, read again under the lock: requests that raced a
// refresh must not turn the cache back to an older snapshot.
func (c *tagCache) add(reg func() *registry.Snapshot, id []byte) *tagBody {
	c.mu.Lock()
	defer c.mu.Unlock()
	snap := reg()
	p := snap.Lookup(id)
	if p == nil || !p.Active() {
		return nil
	}
	if c.snap != snap {
		c.snap, c.prev, c.byID = snap, c.byID, make(map[string]*tagBody)
	}
	if b := c.byID[p.ID]; b != nil {
		return b
	}
	config := configCall(p)
	b := c.prev[p.ID]
	if b == nil || !bytes.Equal(b.config, config) {
		nb := newTagBody(c.src, config)
		b = &nb
	}
	c.byID[p.ID] = b
	return b
}

// urlSafeID reports whether id has the registry's pixel id alphabet,
// [A-Za-z0-9_-]{1,64}: anything else cannot be registered, so it gets the
// generic tag without a lookup.
func urlSafeID(id []byte) bool {
	if len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

var (
	contentTypeJS = []byte("application/javascript; charset=utf-8")
	cacheTag      = []byte("public, max-age=3600")
	strGzip       = []byte("gzip")
	strID         = []byte("id")
)

// tag serves GET /px.js and /px.js?id=ID: cached by browsers for an hour,
// revalidated with If-None-Match, gzip-compressed when the browser accepts
// it. A pixel's settings changed in the registry reach its visitors' tags
// within that hour.
func (s *Server) tag(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() {
		s.methodNotAllowed(ctx, "GET, HEAD")
		return
	}
	t := s.jsTag.body(ctx.QueryArgs().PeekBytes(strID), s.cfg.Registry)
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

// matches reports whether an If-None-Match list names the body (in either
// encoding: the script is the same), with the weak comparison RFC 9110 asks for.
func (t *tagBody) matches(inm []byte) bool {
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
