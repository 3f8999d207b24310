package registry

import (
	"html"
	"net/url"
	"strings"
)

// Snippets are what a site owner pastes for a pixel (pixelctl pixel create
// and pixelctl pixel snippet print them).
type Snippets struct {
	// JS is the tag: a few bytes that define the pixel() queue at once and
	// load COLLECTOR/px.js?id=ID asynchronously, then init the pixel and
	// track a PageView, followed by NoScript. Calls made before px.js
	// arrives wait in pixel.q, as with the big ad networks' loaders.
	JS string
	// NoScript is the <noscript> image for browsers without JavaScript.
	// referrerpolicy="no-referrer-when-downgrade" makes the browser send
	// the full page URL as Referer (the default policy sends only the
	// origin cross-site), which the collector takes as dl.
	NoScript string
	// ImageURL is the plain GIF URL for places that take only an image
	// URL (e-mails, ad servers, tag managers): {PAGE_URL} is to be replaced
	// by the page's URL, URL-encoded, where the place offers a macro for it.
	ImageURL string
	// ImageURLNote says so, for people.
	ImageURLNote string
	// Server is a backend's call of the server API (POST /v1/ID/events,
	// like Meta's Conversions API) as a curl command; $PIXEL_SECRET stands
	// for the pixel's server-API secret, which is never part of a snippet.
	Server string
}

// Snippets returns the pixel's snippets for the collector at collectorURL
// (the public URL, https:// on an https:// site or the browser blocks it
// as mixed content). The id is URL- and HTML-safe by construction
// (ValidID); the URL is escaped where it goes into an attribute or a
// JavaScript string all the same.
func (p *Pixel) Snippets(collectorURL string) Snippets {
	base := strings.TrimRight(collectorURL, "/")
	id := url.QueryEscape(p.ID)
	gif := base + "/p.gif?id=" + id + "&ev=PageView"
	noscript := `<noscript><img height="1" width="1" style="display:none" alt="" referrerpolicy="no-referrer-when-downgrade" src="` +
		html.EscapeString(gif+"&noscript=1") + `"></noscript>`
	js := `<script>` +
		`!function(w,d,u){if(w.pixel)return;var p=w.pixel=function(){(p.q=p.q||[]).push(arguments)};p.q=p.q||[];` +
		`var s=d.createElement('script');s.async=!0;s.src=u;var f=d.getElementsByTagName('script')[0];` +
		`f?f.parentNode.insertBefore(s,f):d.head.appendChild(s)}(window,document,'` + jsString(base+"/px.js?id="+id) + `');` +
		`pixel('init','` + jsString(p.ID) + `');pixel('track','PageView');` +
		`</script>` + "\n" + noscript
	return Snippets{
		JS:           js,
		NoScript:     noscript,
		ImageURL:     gif + "&dl={PAGE_URL}",
		ImageURLNote: "replace {PAGE_URL} with the page's URL, URL-encoded (the place's macro for it), or remove &dl={PAGE_URL}: the collector then takes the Referer, which browsers cut to the origin across sites",
		Server: "curl -sS " + shellQuote(base+"/v1/"+url.PathEscape(p.ID)+"/events") + ` -H "Authorization: Bearer $PIXEL_SECRET" -H 'Content-Type: application/json' \` + "\n" +
			`  -d '{"events":[{"event":"Purchase","event_id":"order-1001","value":129.99,"currency":"EUR","order_id":"1001","url":"https://shop.example/thanks"}]}'`,
	}
}

// shellQuote quotes s for a POSIX shell, in single quotes.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// jsString escapes s for a single-quoted JavaScript string inside an HTML
// <script> element: quotes, backslashes, control characters, and < > &
// so that "</script>" or "<!--" cannot change the element.
func jsString(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || strings.IndexByte(`\'"<>&`, c) >= 0 {
			b.WriteString(`\x`)
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&0xf])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
