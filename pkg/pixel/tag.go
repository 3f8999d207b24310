package pixel

import _ "embed" // for the JS tag

// Tag is the JS tag the collector serves as GET /px.js: a small hand-written
// ES5 script that sends events to POST /collect with navigator.sendBeacon and
// falls back to GET /p.gif. The snippet a site pastes is in the README.
//
//go:embed px.js
var Tag []byte
