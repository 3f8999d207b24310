package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/pixel-pipeline/pixel/internal/jsonscan"
)

// FuzzParse feeds arbitrary bytes to Parse. It must never panic; what it
// accepts must be JSON that encoding/json reads to the same values, and
// re-encoding and re-parsing it must give the same event.
func FuzzParse(f *testing.F) {
	f.Add([]byte(msg("")))
	f.Add(AppendJSON(nil, fullEvent()))
	f.Add(AppendJSON(nil, minimalEvent()))
	f.Add([]byte(msg(`"url":"\ud83d\ude00\ud800\"","content_ids":["a","\u0041"],"value":-1.5e-3,"future":[{"a":null}]`)))
	f.Add([]byte(msg(`"ts":4294967295,"ts":1,"session_id":"","props":"{}"`)))
	f.Add([]byte(`{"event\u005fid":"e","pixel_id":"p","visitor_id":"v","event":"x","ts":946684800,"received_at":4291747199}`))
	f.Add([]byte(msg(`"value":1e15,"content_ids":["","",""]`)))
	f.Add([]byte(`{"ts":+1}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e Event
		err := Parse(data, &e)
		if err != nil {
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrType) && !errors.Is(err, ErrMissing) && !errors.Is(err, ErrRange) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Parse(%q) = %v: not one of the documented errors", data, err)
			}
			// For an object, Parse may be stricter than encoding/json only on
			// UTF-8 and on nesting.
			isObject := bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{"))
			if errors.Is(err, ErrSyntax) && isObject && json.Valid(data) && utf8.Valid(data) &&
				bytes.Count(data, []byte("["))+bytes.Count(data, []byte("{")) <= jsonscan.MaxDepth {
				t.Fatalf("Parse(%q) = ErrSyntax, but encoding/json accepts it", data)
			}
			return
		}
		checkAgainstEncodingJSON(t, data, &e)

		out := AppendJSON(nil, &e)
		var again Event
		if err := Parse(out, &again); err != nil {
			t.Fatalf("Parse(%q) succeeded, but Parse(AppendJSON(e)) = %v\nre-encoded: %s", data, err, out)
		}
		if d := eventDiff(&again, &e); d != "" {
			t.Fatalf("round trip of %q changed the event: %s", data, d)
		}
	})
}

// checkAgainstEncodingJSON checks that data, which Parse accepted into e, is
// valid JSON and that encoding/json reads the same value for every field.
// It decodes into a map first because encoding/json matches struct fields
// case-insensitively, while the wire format's names are exact.
func checkAgainstEncodingJSON(t *testing.T, data []byte, e *Event) {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatalf("Parse accepted %q, encoding/json does not: %v", data, err)
	}
	var want jsonEvent
	for _, name := range columns {
		raw, ok := fields[name]
		if !ok {
			continue
		}
		obj, _ := json.Marshal(map[string]json.RawMessage{name: raw})
		if err := json.Unmarshal(obj, &want); err != nil {
			t.Fatalf("Parse accepted %q, encoding/json cannot read field %s: %v", data, name, err)
		}
	}
	if got := toJSONEvent(e); !jsonEventsEqual(got, want) {
		t.Fatalf("Parse(%q):\n got %+v\nencoding/json reads\n     %+v", data, got, want)
	}
}

// FuzzAppendString checks that any bytes come out as a valid JSON string that
// reads back as the input, each invalid UTF-8 byte replaced by U+FFFD.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `"\`, "\x00\x1f\x7f", "é世😀", "\xff\xfe", "\xed\xa0\x80", "a\xe4\xb8", "\u2028"} {
		f.Add([]byte(s))
	}
	f.Add([]byte("0123456789abcdef\"0123456789abcdef\x1f01234567é"))
	f.Add([]byte("https://shop.example/checkout?q=a\\b\xff01234567"))
	f.Fuzz(func(t *testing.T, s []byte) {
		out := AppendString(nil, s)
		checkStringJSON(t, string(s), out)
		if want := appendStringBytewise(nil, s); !bytes.Equal(out, want) {
			t.Fatalf("AppendString(%q) = %s, byte by byte %s", s, out, want)
		}
		if utf8.Valid(s) && len(s) <= MaxStringLen {
			// Valid text also survives our own decoder unchanged.
			var e Event
			data := []byte(msg(`"url":` + string(out)))
			if err := Parse(data, &e); err != nil {
				t.Fatalf("Parse(%q) = %v", data, err)
			}
			if !bytes.Equal(e.URL, s) {
				t.Fatalf("url %q came back as %q", s, e.URL)
			}
		}
	})
}

// appendStringBytewise is AppendString as it was before it skipped eight
// bytes at a time: one byte per step, the reference its output must equal.
func appendStringBytewise(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
