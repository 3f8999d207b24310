package event

import "bytes"

// Props builds the props field: the custom properties of an event as one
// JSON object, each key once (its first value). It keeps its buffers
// across Reset, so that building allocates nothing once they have grown.
// The collector's query and body parsers and the server API share it.
type Props struct {
	buf  []byte   // the object so far, without its closing brace
	keys [][]byte // the keys added, borrowed from the caller
}

// Reset empties p, keeping its memory.
func (p *Props) Reset() {
	p.buf = p.buf[:0]
	clear(p.keys)
	p.keys = p.keys[:0]
}

// Add appends key with val, unless key is there already. It reports false,
// adding nothing, when the object holds max keys. key must stay valid
// until Reset.
func (p *Props) Add(key, val []byte, max int) bool {
	for _, k := range p.keys {
		if bytes.Equal(k, key) {
			return true
		}
	}
	if len(p.keys) >= max {
		return false
	}
	p.keys = append(p.keys, key)
	if len(p.buf) == 0 {
		p.buf = append(p.buf, '{')
	} else {
		p.buf = append(p.buf, ',')
	}
	p.buf = AppendString(p.buf, key)
	p.buf = append(p.buf, ':')
	p.buf = AppendString(p.buf, val)
	return true
}

// Close returns the object, closed, or nil when it has no key; call it once
// after the last Add.
func (p *Props) Close() []byte {
	if len(p.buf) == 0 {
		return nil
	}
	p.buf = append(p.buf, '}')
	return p.buf
}
