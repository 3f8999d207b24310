package pixel

import _ "embed" // for the JS tag

//go:generate go run ./internal/tagmin

// Tag is the JS tag the collector serves as GET /px.js: px.min.js, the
// minified form (ES5) of px.js, the readable source, which
// internal/tagmin makes (go generate ./pkg/pixel). It sends events to
// POST /collect with navigator.sendBeacon and falls back to GET /p.gif. The
// snippet a site pastes and the API are in the README, "The JS tag".
//
//go:embed px.min.js
var Tag []byte
