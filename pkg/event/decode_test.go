package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/internal/jsonscan"
)

// required are the fields Parse insists on, as message text.
const required = `"event_id":"e1","pixel_id":"p1","visitor_id":"v1","event":"PageView","ts":1767268790,"received_at":1767268800`

// msg returns a message holding the required fields followed by extra.
func msg(extra string) string {
	if extra == "" {
		return "{" + required + "}"
	}
	return "{" + required + "," + extra + "}"
}

// base is the Event msg("") decodes to.
func base() *Event {
	return &Event{
		EventID: []byte("e1"), PixelID: []byte("p1"), VisitorID: []byte("v1"),
		Name: []byte("PageView"), TS: 1767268790, ReceivedAt: 1767268800,
	}
}

// eventDiff describes how got differs from want, or returns "".
func eventDiff(got, want *Event) string {
	var b strings.Builder
	str := func(name string, g, w []byte) {
		if !bytes.Equal(g, w) {
			fmt.Fprintf(&b, "%s = %q, want %q; ", name, g, w)
		}
	}
	str("event_id", got.EventID, want.EventID)
	str("pixel_id", got.PixelID, want.PixelID)
	str("visitor_id", got.VisitorID, want.VisitorID)
	str("session_id", got.SessionID, want.SessionID)
	str("event", got.Name, want.Name)
	for i, n := range TrackingColumns {
		str(n, got.Tracking[i], want.Tracking[i])
	}
	if got.TSMs != want.TSMs || got.EngagedMs != want.EngagedMs || got.ClickTSMs != want.ClickTSMs {
		fmt.Fprintf(&b, "ts_ms, engaged_ms, click_ts_ms = %d, %d, %d, want %d, %d, %d; ",
			got.TSMs, got.EngagedMs, got.ClickTSMs, want.TSMs, want.EngagedMs, want.ClickTSMs)
	}
	if got.GPC != want.GPC || got.DNT != want.DNT || got.IsBot != want.IsBot {
		fmt.Fprintf(&b, "gpc, dnt, is_bot = %v, %v, %v, want %v, %v, %v; ", got.GPC, got.DNT, got.IsBot, want.GPC, want.DNT, want.IsBot)
	}
	if got.TS != want.TS {
		fmt.Fprintf(&b, "ts = %d, want %d; ", got.TS, want.TS)
	}
	if got.ReceivedAt != want.ReceivedAt {
		fmt.Fprintf(&b, "received_at = %d, want %d; ", got.ReceivedAt, want.ReceivedAt)
	}
	str("url", got.URL, want.URL)
	str("referrer", got.Referrer, want.Referrer)
	if got.Value != want.Value {
		fmt.Fprintf(&b, "value = %v, want %v; ", got.Value, want.Value)
	}
	str("currency", got.Currency, want.Currency)
	str("order_id", got.OrderID, want.OrderID)
	if len(got.ContentIDs) != len(want.ContentIDs) {
		fmt.Fprintf(&b, "content_ids = %q, want %q; ", got.ContentIDs, want.ContentIDs)
	} else {
		for i := range got.ContentIDs {
			str(fmt.Sprintf("content_ids[%d]", i), got.ContentIDs[i], want.ContentIDs[i])
		}
	}
	str("ip", got.IP, want.IP)
	str("user_agent", got.UserAgent, want.UserAgent)
	str("props", got.Props, want.Props)
	return b.String()
}

func TestParseFields(t *testing.T) {
	with := func(f func(e *Event)) *Event {
		e := base()
		f(e)
		return e
	}
	for _, tc := range []struct {
		name string
		in   string
		want *Event
	}{
		{"required only", msg(""), base()},
		{"every field", string(AppendJSON(nil, fullEvent())), fullEvent()},
		{"session_id", msg(`"session_id":"s1"`), with(func(e *Event) { e.SessionID = []byte("s1") })},
		{"ts", msg(`"ts":1767268799`), with(func(e *Event) { e.TS = 1767268799 })},
		{"ts at MinTime", msg(`"ts":946684800`), with(func(e *Event) { e.TS = MinTime })},
		{"ts at MaxTime", msg(`"ts":4291747199`), with(func(e *Event) { e.TS = MaxTime })},
		{"received_at at the limits", msg(`"ts":4291747199,"received_at":946684800`), with(func(e *Event) { e.TS, e.ReceivedAt = MaxTime, MinTime })},
		{"value at the limits", msg(`"value":-1e15`), with(func(e *Event) { e.Value = -MaxAbsValue })},
		{"longest event_id", msg(`"event_id":"` + strings.Repeat("e", MaxEventIDLen) + `"`), with(func(e *Event) { e.EventID = bytes.Repeat([]byte("e"), MaxEventIDLen) })},
		{"longest url", msg(`"url":"` + strings.Repeat("u", MaxStringLen) + `"`), with(func(e *Event) { e.URL = bytes.Repeat([]byte("u"), MaxStringLen) })},
		{"most content_ids", msg(`"content_ids":[` + strings.Repeat(`"",`, MaxContentIDs-1) + `""]`), with(func(e *Event) {
			e.ContentIDs = make([][]byte, MaxContentIDs)
			for i := range e.ContentIDs {
				e.ContentIDs[i] = []byte{}
			}
		})},
		{"url", msg(`"url":"https://a.example/?x=1"`), with(func(e *Event) { e.URL = []byte("https://a.example/?x=1") })},
		{"referrer", msg(`"referrer":"r"`), with(func(e *Event) { e.Referrer = []byte("r") })},
		{"value integer", msg(`"value":42`), with(func(e *Event) { e.Value = 42 })},
		{"value negative fraction", msg(`"value":-0.5`), with(func(e *Event) { e.Value = -0.5 })},
		{"value exponent", msg(`"value":1.5E+3`), with(func(e *Event) { e.Value = 1500 })},
		{"currency", msg(`"currency":"USD"`), with(func(e *Event) { e.Currency = []byte("USD") })},
		{"order_id", msg(`"order_id":"o-1"`), with(func(e *Event) { e.OrderID = []byte("o-1") })},
		{"content_ids", msg(`"content_ids":["a","b\"c",""]`), with(func(e *Event) {
			e.ContentIDs = [][]byte{[]byte("a"), []byte(`b"c`), {}}
		})},
		{"content_ids empty", msg(`"content_ids":[ ]`), base()},
		{"ip", msg(`"ip":"2001:db8::1"`), with(func(e *Event) { e.IP = []byte("2001:db8::1") })},
		{"user_agent", msg(`"user_agent":"Mozilla/5.0"`), with(func(e *Event) { e.UserAgent = []byte("Mozilla/5.0") })},
		{"props", msg(`"props":"{\"a\":\"b\"}"`), with(func(e *Event) { e.Props = []byte(`{"a":"b"}`) })},
		{
			"escapes",
			msg(`"url":"q\"b\\s\/\b\f\n\r\t|\u00e9\u4E16|\ud83d\ude00"`),
			with(func(e *Event) { e.URL = []byte("q\"b\\s/\b\f\n\r\t|é世|😀") }),
		},
		{"lone high surrogate", msg(`"url":"a\ud800b"`), with(func(e *Event) { e.URL = []byte("a\uFFFDb") })},
		{"lone low surrogate", msg(`"url":"a\udc00b"`), with(func(e *Event) { e.URL = []byte("a\uFFFDb") })},
		{"high surrogate before a non-surrogate escape", msg(`"url":"\ud800\u0041"`), with(func(e *Event) { e.URL = []byte("\uFFFDA") })},
		{"high surrogate twice", msg(`"url":"\ud800\ud800\udc00"`), with(func(e *Event) { e.URL = []byte("\uFFFD𐀀") })},
		{"raw UTF-8", msg(`"url":"é😀"`), with(func(e *Event) { e.URL = []byte("é😀") })},
		{"escaped key", `{"event\u005fid":"e1","pixel_id":"p1","visitor_id":"v1","event":"PageView","ts":1767268790,"received_at":1767268800}`, base()},
		{
			"unknown fields are skipped",
			msg(`"future":{"a":[1,-2.5e-3,true,false,null,"x\"",{},[]],"b":{"c":"}"}},"z":1e400,"n":null`),
			base(),
		},
		{
			"white space everywhere",
			" \t\r\n{ \"event_id\" : \"e1\" ,\n\"pixel_id\":\"p1\",\"visitor_id\":\"v1\",\"event\":\"PageView\",\"ts\": 1767268790,\"received_at\" :\t1767268800 ," +
				"\"content_ids\" : [ \"a\" , \"b\" ] , \"value\" : 2 } \n",
			with(func(e *Event) { e.ContentIDs = [][]byte{[]byte("a"), []byte("b")}; e.Value = 2 }),
		},
		{"duplicated field: the last wins", msg(`"event":"Lead","url":"a","url":"b"`), with(func(e *Event) {
			e.Name = []byte("Lead")
			e.URL = []byte("b")
		})},
		{"unknown field nested to the limit", msg(`"future":` + strings.Repeat("[", jsonscan.MaxDepth) + "1" + strings.Repeat("]", jsonscan.MaxDepth)), base()},
		{"numbers", msg(`"value":-0,"future":[0,-0.0,1E5,1e-5,2.5E+10,123456789012345678901234567890]`), base()},
		{"null, then a value", msg(`"url":null,"url":"u","content_ids":null,"content_ids":["a"]`), with(func(e *Event) {
			e.URL = []byte("u")
			e.ContentIDs = [][]byte{[]byte("a")}
		})},
		{"a value, then null: the default again", msg(`"url":"u","url":null,"value":5,"value":null,"content_ids":["a"],"content_ids":null`), base()},
		{"null inside an unknown field", msg(`"future":[null,{"a":null}]`), base()},
		{"duplicated content_ids: the last wins", msg(`"content_ids":["a","b"],"content_ids":["c"]`), with(func(e *Event) {
			e.ContentIDs = [][]byte{[]byte("c")}
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e Event
			if err := Parse([]byte(tc.in), &e); err != nil {
				t.Fatalf("Parse(%s): %v", tc.in, err)
			}
			if d := eventDiff(&e, tc.want); d != "" {
				t.Fatalf("Parse(%s): %s", tc.in, d)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	deep := strings.Repeat("[", 40) + strings.Repeat("]", 40)
	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		// Malformed JSON.
		{"empty", ``, ErrSyntax},
		{"white space only", " \n", ErrSyntax},
		{"array", `[]`, ErrSyntax},
		{"string", `"x"`, ErrSyntax},
		{"open brace", `{`, ErrSyntax},
		{"truncated after a value", `{"event_id":"e1"`, ErrSyntax},
		{"truncated string", `{"event_id":"e1`, ErrSyntax},
		{"truncated escape", `{"event_id":"e1\`, ErrSyntax},
		{"truncated \\u", `{"event_id":"\u00"}`, ErrSyntax},
		{"trailing comma", `{"event_id":"e1",}`, ErrSyntax},
		{"missing colon", `{"event_id" "e1"}`, ErrSyntax},
		{"missing comma", `{"event_id":"e1" "pixel_id":"p1"}`, ErrSyntax},
		{"unquoted key", `{event_id:"e1"}`, ErrSyntax},
		{"single quotes", `{'event_id':'e1'}`, ErrSyntax},
		{"text after the object", msg("") + ` x`, ErrSyntax},
		{"second object", msg("") + msg(""), ErrSyntax},
		{"raw control character in a string", msg("\"url\":\"a\tb\""), ErrSyntax},
		{"raw control character in an escaped string", msg("\"url\":\"\\n\x01\""), ErrSyntax},
		{"invalid UTF-8", msg("\"url\":\"\xff\""), ErrSyntax},
		{"invalid UTF-8 in an escaped string", msg("\"url\":\"\\n\xff\""), ErrSyntax},
		{"unknown escape", msg(`"url":"\x41"`), ErrSyntax},
		{"bad hex in \\u", msg(`"url":"\u12g4"`), ErrSyntax},
		{"bad hex after a high surrogate", msg(`"url":"\ud800\uzzzz"`), ErrSyntax},
		{"number with plus sign", msg(`"ts":+5`), ErrSyntax},
		{"number with leading zero", msg(`"ts":05`), ErrSyntax},
		{"minus alone", msg(`"ts":-`), ErrSyntax},
		{"fraction without digits", msg(`"value":1.`), ErrSyntax},
		{"fraction without integer part", msg(`"value":.5`), ErrSyntax},
		{"exponent without digits", msg(`"value":1e`), ErrSyntax},
		{"hex number", msg(`"value":0x10`), ErrSyntax},
		{"NaN literal", msg(`"future":NaN`), ErrSyntax},
		{"bad literal", msg(`"future":tru`), ErrSyntax},
		{"unclosed array in an unknown field", msg(`"future":[1,2}`), ErrSyntax},
		{"bad number in an unknown field", msg(`"future":1.2.3`), ErrSyntax},
		{"unknown field nested too deep", msg(`"future":` + deep), ErrSyntax},
		{"unknown field one level too deep", msg(`"future":` + strings.Repeat("[", jsonscan.MaxDepth+1) + strings.Repeat("]", jsonscan.MaxDepth+1)), ErrSyntax},
		{"a wrong type that is not even JSON", msg(`"url":{"a"}`), ErrSyntax},
		{"string value missing", `{"event_id":}`, ErrSyntax},
		{"number value missing", msg(`"ts":,"url":"u"`), ErrSyntax},
		{"content_ids value not JSON", msg(`"content_ids":x`), ErrSyntax},
		{"content_ids unclosed", msg(`"content_ids":["a"`), ErrSyntax},
		{"content_ids missing comma", msg(`"content_ids":["a" "b"]`), ErrSyntax},

		// A known field of the wrong JSON type.
		{"event_id number", `{"event_id":5}`, ErrType},
		{"url object", msg(`"url":{}`), ErrType},
		{"ts string", msg(`"ts":"1767268800"`), ErrType},
		{"received_at bool", `{"received_at":true}`, ErrType},
		{"value string", msg(`"value":"9.99"`), ErrType},
		{"content_ids string", msg(`"content_ids":"a,b"`), ErrType},
		{"content_ids of numbers", msg(`"content_ids":[1,2]`), ErrType},
		{"content_ids with a null entry", msg(`"content_ids":["a",null]`), ErrType},
		{"content_ids of objects", msg(`"content_ids":[{}]`), ErrType},
		{"props object", msg(`"props":{"a":"b"}`), ErrType},

		// Required fields.
		{"empty object", `{}`, ErrMissing},
		{"no event_id", `{"pixel_id":"p1","visitor_id":"v1","event":"PageView","received_at":1}`, ErrMissing},
		{"empty event_id", `{"event_id":"","pixel_id":"p1","visitor_id":"v1","event":"PageView","received_at":1}`, ErrMissing},
		{"no pixel_id", `{"event_id":"e1","visitor_id":"v1","event":"PageView","received_at":1}`, ErrMissing},
		{"no visitor_id", `{"event_id":"e1","pixel_id":"p1","event":"PageView","received_at":1}`, ErrMissing},
		{"no event", `{"event_id":"e1","pixel_id":"p1","visitor_id":"v1","received_at":1}`, ErrMissing},
		{"no received_at", `{"event_id":"e1","pixel_id":"p1","visitor_id":"v1","event":"PageView","ts":1767268790}`, ErrMissing},
		{"received_at zero", `{"event_id":"e1","pixel_id":"p1","visitor_id":"v1","event":"PageView","ts":1767268790,"received_at":0}`, ErrMissing},
		{"no ts", `{"event_id":"e1","pixel_id":"p1","visitor_id":"v1","event":"PageView","received_at":1767268800}`, ErrMissing},
		{"ts zero", msg(`"ts":0`), ErrMissing},

		// Numbers that do not fit their columns.
		{"gpc not 0 or 1", msg(`"gpc":2`), ErrRange},
		{"is_bot a string", msg(`"is_bot":"1"`), ErrType},
		{"engaged_ms a fraction", msg(`"engaged_ms":1.5`), ErrRange},
		{"utm_source a number", msg(`"utm_source":1`), ErrType},
		{"ts negative", msg(`"ts":-1`), ErrRange},
		{"ts after MaxTime", msg(`"ts":4291747200`), ErrRange},
		{"ts after the DateTime range", msg(`"ts":4294967296`), ErrRange},
		{"ts before MinTime", msg(`"ts":946684799`), ErrRange},
		{"ts in 1970", msg(`"ts":1`), ErrRange},
		{"received_at before MinTime", msg(`"received_at":946684799`), ErrRange},
		{"received_at after MaxTime", msg(`"received_at":4291747200`), ErrRange},
		{"ts overflows int64", msg(`"ts":99999999999999999999`), ErrRange},
		{"ts with a fraction", msg(`"ts":1.5`), ErrRange},
		{"received_at negative", `{"event_id":"e1","pixel_id":"p1","visitor_id":"v1","event":"PageView","ts":1767268790,"received_at":-5}`, ErrRange},
		{"value overflows float64", msg(`"value":1e400`), ErrRange},
		{"value negative overflow", msg(`"value":-1e400`), ErrRange},
		{"value beyond MaxAbsValue", msg(`"value":1000000000000000.2`), ErrRange},
		{"value absurd", msg(`"value":-1e300`), ErrRange},

		// Fields longer than their limits.
		{"event_id too long", msg(`"event_id":"` + strings.Repeat("e", MaxEventIDLen+1) + `"`), ErrTooLarge},
		{"url too long", msg(`"url":"` + strings.Repeat("u", MaxStringLen+1) + `"`), ErrTooLarge},
		{"escaped props too long", msg(`"props":"` + strings.Repeat(`\"`, MaxStringLen+1) + `"`), ErrTooLarge},
		{"user_agent too long", msg(`"user_agent":"` + strings.Repeat("ü", MaxStringLen/2+1) + `"`), ErrTooLarge},
		{"content id too long", msg(`"content_ids":["a","` + strings.Repeat("c", MaxStringLen+1) + `"]`), ErrTooLarge},
		{"too many content_ids", msg(`"content_ids":[` + strings.Repeat(`"",`, MaxContentIDs) + `""]`), ErrTooLarge},
		{"a million content_ids stop early", msg(`"content_ids":[` + strings.Repeat(`"",`, 1_000_000) + `""]`), ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e Event
			if err := Parse([]byte(tc.in), &e); !errors.Is(err, tc.want) {
				t.Fatalf("Parse(%q) = %v, want %v", tc.in, err, tc.want)
			}
		})
	}
}

// TestParseNull checks that null is the same as a missing field, for every
// field: an optional one keeps its column default, a required one is
// missing. (A repeated field whose last value is null is back at its
// default, the last value winning as with encoding/json into a fresh value:
// see TestParseFields.)
func TestParseNull(t *testing.T) {
	for _, name := range []string{"session_id", "url", "referrer", "value", "currency", "order_id", "content_ids", "ip", "user_agent", "props", "future"} {
		t.Run(name, func(t *testing.T) {
			var e Event
			in := msg(`"` + name + `":null`)
			if err := Parse([]byte(in), &e); err != nil {
				t.Fatalf("Parse(%s): %v", in, err)
			}
			if d := eventDiff(&e, base()); d != "" {
				t.Fatalf("Parse(%s): %s", in, d)
			}
		})
	}
	for _, name := range []string{"event_id", "pixel_id", "visitor_id", "event", "ts", "received_at"} {
		t.Run(name, func(t *testing.T) {
			var e Event
			in := msg(`"` + name + `":null`)
			if err := Parse([]byte(in), &e); err != ErrMissing {
				t.Fatalf("Parse(%s) = %v, want ErrMissing", in, err)
			}
		})
	}
}

// TestParseEncodingJSONProducer reads what a producer written with
// encoding/json sends: a nil slice is null, and so is an empty one behind
// a pointer. Such a message was dead-lettered as "type" before null was
// read as a missing field.
func TestParseEncodingJSONProducer(t *testing.T) {
	type producerEvent struct {
		EventID    string   `json:"event_id"`
		PixelID    string   `json:"pixel_id"`
		VisitorID  string   `json:"visitor_id"`
		Name       string   `json:"event"`
		TS         int64    `json:"ts"`
		ReceivedAt int64    `json:"received_at"`
		URL        *string  `json:"url"`
		Value      *float64 `json:"value"`
		ContentIDs []string `json:"content_ids"`
	}
	data, err := json.Marshal(producerEvent{EventID: "e1", PixelID: "p1", VisitorID: "v1", Name: "PageView", TS: 1767268790, ReceivedAt: 1767268800})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(`"content_ids":null`)) {
		t.Fatalf("encoding/json wrote %s, want a null content_ids", data)
	}
	var e Event
	if err := Parse(data, &e); err != nil {
		t.Fatalf("Parse(%s): %v", data, err)
	}
	if d := eventDiff(&e, base()); d != "" {
		t.Fatalf("Parse(%s): %s", data, d)
	}
}

// TestParseReuse checks that Parse resets the event: nothing of an earlier
// message leaks into the next, and fields of the earlier message that point
// into scratch space are not needed to be valid any more.
func TestParseReuse(t *testing.T) {
	var e Event
	first := []byte(string(AppendJSON(nil, fullEvent())))
	if err := Parse(first, &e); err != nil {
		t.Fatal(err)
	}
	second := msg(`"url":"\u00e9"`)
	if err := Parse([]byte(second), &e); err != nil {
		t.Fatal(err)
	}
	want := base()
	want.URL = []byte("é")
	if d := eventDiff(&e, want); d != "" {
		t.Fatalf("second Parse: %s", d)
	}
	if err := Parse([]byte(`{`), &e); err == nil {
		t.Fatal("Parse of a broken message succeeded")
	}
	if err := Parse(first, &e); err != nil {
		t.Fatal(err)
	}
	if d := eventDiff(&e, fullEvent()); d != "" {
		t.Fatalf("third Parse: %s", d)
	}
}

// TestParseManyEscapes fills every string field with escapes, so that all of
// them are unescaped into the event's scratch space at once; each must keep
// its own value.
func TestParseManyEscapes(t *testing.T) {
	e := fullEvent()
	e.EventID = []byte("id\t1")
	e.PixelID = []byte("p\"1")
	e.VisitorID = []byte("v\\1")
	e.SessionID = []byte("s\n1")
	e.Name = []byte("Név\x01")
	e.URL = []byte(strings.Repeat("\"\\", 100))
	e.Referrer = []byte("r\x1f")
	e.Currency = []byte("\x00EU")
	e.OrderID = []byte("o\r")
	e.ContentIDs = [][]byte{[]byte("\"a"), []byte("\\b"), []byte("\x02c")}
	e.IP = []byte("\n")
	e.UserAgent = []byte("\"UA\"")
	e.Props = []byte(`{"k":"v\n"}`)
	data := AppendJSON(nil, e)
	var got Event
	if err := Parse(data, &got); err != nil {
		t.Fatalf("Parse(%s): %v", data, err)
	}
	if d := eventDiff(&got, e); d != "" {
		t.Fatalf("Parse(%s): %s", data, d)
	}
}

func TestRoundTrip(t *testing.T) {
	hostile := fullEvent()
	hostile.URL = []byte("https://x.example/?q=\"</script>\"&\\\x00\x1f\u2028")
	hostile.Props = []byte(`{"k":"v\"w","n":"\n"}`)
	hostile.Value = -1e-300
	hostile.TS = MinTime
	hostile.TSMs = MinTime*1000 + 999
	hostile.ReceivedAt = MaxTime
	for name, e := range map[string]*Event{"full": fullEvent(), "minimal": minimalEvent(), "hostile": hostile} {
		t.Run(name, func(t *testing.T) {
			data := AppendJSON(nil, e)
			var got Event
			if err := Parse(data, &got); err != nil {
				t.Fatalf("Parse(%s): %v", data, err)
			}
			if d := eventDiff(&got, e); d != "" {
				t.Fatalf("Parse(AppendJSON(e)): %s", d)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Event)
		want   error
	}{
		{"valid", func(*Event) {}, nil},
		{"no event id", func(e *Event) { e.EventID = nil }, ErrMissing},
		{"no pixel id", func(e *Event) { e.PixelID = []byte{} }, ErrMissing},
		{"no visitor id", func(e *Event) { e.VisitorID = nil }, ErrMissing},
		{"no event name", func(e *Event) { e.Name = nil }, ErrMissing},
		{"no receive time", func(e *Event) { e.ReceivedAt = 0 }, ErrMissing},
		{"no event time", func(e *Event) { e.TS = 0 }, ErrMissing},
		{"ts negative", func(e *Event) { e.TS = -1 }, ErrRange},
		{"ts before 2000", func(e *Event) { e.TS = MinTime - 1 }, ErrRange},
		{"ts at MinTime", func(e *Event) { e.TS, e.TSMs = MinTime, 0 }, nil},
		{"ts at MaxTime", func(e *Event) { e.TS, e.TSMs = MaxTime, MaxTime*1000+999 }, nil},
		{"ts_ms of another second", func(e *Event) { e.TSMs = e.TS*1000 + 1000 }, ErrRange},
		{"engaged_ms negative", func(e *Event) { e.EngagedMs = -1 }, ErrRange},
		{"engaged_ms at its limit", func(e *Event) { e.EngagedMs = MaxEngagedMs }, nil},
		{"engaged_ms beyond UInt32", func(e *Event) { e.EngagedMs = MaxEngagedMs + 1 }, ErrRange},
		{"click_ts_ms negative", func(e *Event) { e.ClickTSMs = -1 }, ErrRange},
		{"tracking column too long", func(e *Event) { e.Tracking[UTMCampaign] = make([]byte, MaxStringLen+1) }, ErrTooLarge},
		{"ts too big", func(e *Event) { e.TS = MaxTime + 1 }, ErrRange},
		{"received_at before 2000", func(e *Event) { e.ReceivedAt = 86400 }, ErrRange},
		{"received_at too big", func(e *Event) { e.ReceivedAt = MaxTime + 1 }, ErrRange},
		{"received_at beyond DateTime", func(e *Event) { e.ReceivedAt = math.MaxUint32 + 1 }, ErrRange},
		{"value NaN", func(e *Event) { e.Value = math.NaN() }, ErrRange},
		{"value infinite", func(e *Event) { e.Value = math.Inf(-1) }, ErrRange},
		{"value at +MaxAbsValue", func(e *Event) { e.Value = MaxAbsValue }, nil},
		{"value at -MaxAbsValue", func(e *Event) { e.Value = -MaxAbsValue }, nil},
		{"value above MaxAbsValue", func(e *Event) { e.Value = math.Nextafter(MaxAbsValue, math.Inf(1)) }, ErrRange},
		{"value below -MaxAbsValue", func(e *Event) { e.Value = -1e16 }, ErrRange},
		{"event_id at its limit", func(e *Event) { e.EventID = bytes.Repeat([]byte{'e'}, MaxEventIDLen) }, nil},
		{"event_id too long", func(e *Event) { e.EventID = bytes.Repeat([]byte{'e'}, MaxEventIDLen+1) }, ErrTooLarge},
		{"content_ids at their limit", func(e *Event) { e.ContentIDs = make([][]byte, MaxContentIDs) }, nil},
		{"too many content_ids", func(e *Event) { e.ContentIDs = make([][]byte, MaxContentIDs+1) }, ErrTooLarge},
		{"content id too long", func(e *Event) { e.ContentIDs[1] = make([]byte, MaxStringLen+1) }, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := fullEvent()
			tc.change(e)
			if err := e.Validate(); err != tc.want {
				t.Fatalf("Validate() = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestValidateStringLimits checks that every string field is bounded by
// MaxStringLen: at the limit it is valid, one byte over it is not.
func TestValidateStringLimits(t *testing.T) {
	fields := map[string]func(e *Event) *[]byte{
		"pixel_id":   func(e *Event) *[]byte { return &e.PixelID },
		"visitor_id": func(e *Event) *[]byte { return &e.VisitorID },
		"session_id": func(e *Event) *[]byte { return &e.SessionID },
		"event":      func(e *Event) *[]byte { return &e.Name },
		"url":        func(e *Event) *[]byte { return &e.URL },
		"referrer":   func(e *Event) *[]byte { return &e.Referrer },
		"currency":   func(e *Event) *[]byte { return &e.Currency },
		"order_id":   func(e *Event) *[]byte { return &e.OrderID },
		"ip":         func(e *Event) *[]byte { return &e.IP },
		"user_agent": func(e *Event) *[]byte { return &e.UserAgent },
		"props":      func(e *Event) *[]byte { return &e.Props },
	}
	for name, field := range fields {
		for _, tc := range []struct {
			n    int
			want error
		}{{MaxStringLen, nil}, {MaxStringLen + 1, ErrTooLarge}} {
			e := fullEvent()
			*field(e) = bytes.Repeat([]byte{'x'}, tc.n)
			if err := e.Validate(); err != tc.want {
				t.Errorf("%s of %d bytes: Validate() = %v, want %v", name, tc.n, err, tc.want)
			}
		}
	}
}
