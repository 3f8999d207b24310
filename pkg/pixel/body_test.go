package pixel

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/internal/jsonscan"
)

// bodyEvent is the outcome of one event of a body.
type bodyEvent struct {
	f   fields
	err error
}

// parseBody reads every event of body with the default limits, as the
// collector does: one Hit for the whole body. It does so twice, the second
// time with a Hit dirty from another body, and both must agree.
func parseBody(t *testing.T, body string) ([]bodyEvent, int, error) {
	t.Helper()
	lim := DefaultLimits()
	run := func(h *Hit) ([]bodyEvent, int, error) {
		var b Body
		data := []byte(body)
		if err := b.Reset(data, lim.MaxBatchEvents); err != nil {
			return nil, 0, err
		}
		var out []bodyEvent
		for b.Len() > 0 {
			h.resetEvent()
			err := b.Next(h, &lim, testNow)
			out = append(out, bodyEvent{fieldsOf(&h.Event), err})
		}
		return out, b.Excess(), nil
	}
	got1, excess1, err1 := run(new(Hit))

	dirty := AcquireHit()
	defer ReleaseHit(dirty)
	var b Body
	other := []byte(`{"id":"other","ev":"E","eid":"x\"y","dl":"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9","cd":{"value":1,"k":"\n","content_ids":["q"]}}`)
	if b.Reset(other, 0) == nil {
		_ = b.Next(dirty, &lim, testNow)
	}
	got2, excess2, err2 := run(dirty)

	if err1 != err2 || excess1 != excess2 || len(got1) != len(got2) {
		t.Fatalf("body %.200q: fresh Hit %v/%d/%d events, reused Hit %v/%d/%d events", body, err1, excess1, len(got1), err2, excess2, len(got2))
	}
	for i := range got1 {
		if got1[i].err != got2[i].err || (got1[i].err == nil && !got1[i].f.equal(got2[i].f)) {
			t.Fatalf("body %.200q, event %d: fresh Hit %+v, reused Hit %+v", body, i, got1[i], got2[i])
		}
	}
	return got1, excess1, err1
}

// parseOne parses a body holding a single event.
func parseOne(t *testing.T, body string) (fields, error) {
	t.Helper()
	evs, _, err := parseBody(t, body)
	if err != nil {
		t.Fatalf("Reset(%.200q) = %v", body, err)
	}
	if len(evs) != 1 {
		t.Fatalf("body %.200q holds %d events, want 1", body, len(evs))
	}
	return evs[0].f, evs[0].err
}

func TestParseBody(t *testing.T) {
	const tsMs = "1767268799123" // a second before testNow
	pv := func(f fields) fields {
		if f.pixelID == "" {
			f.pixelID = "px1"
		}
		if f.name == "" {
			f.name = "PageView"
		}
		return f
	}
	for _, tc := range []struct {
		name, body string
		want       fields
	}{
		{"id only: ev defaults to PageView", `{"id":"px1"}`, pv(fields{})},
		{"every field", `{"id":"px1","ev":"Purchase","eid":"e-1","dl":"https://shop.example/ok?a=1&b=2","rl":"https://www.google.com/","ts":` + tsMs + `,
			"cd":{"value":12.5,"currency":"eur","order_id":"o1","content_ids":["a","b"],"coupon":"X"}}`,
			fields{pixelID: "px1", name: "Purchase", eventID: "e-1", url: "https://shop.example/ok?a=1&b=2", referrer: "https://www.google.com/",
				ts: nowSec - 1, value: 12.5, currency: "EUR", orderID: "o1", contentIDs: []string{"a", "b"}, props: `{"coupon":"X"}`}},
		{"white space everywhere", " \r\n\t{ \"id\" : \"px1\" , \"cd\" : { \"value\" : 1 } } \n", pv(fields{value: 1})},
		{"ts as a string of digits", `{"id":"px1","ts":"` + tsMs + `"}`, pv(fields{ts: nowSec - 1})},
		{"ts too far off is the receive time", `{"id":"px1","ts":1000}`, pv(fields{ts: nowSec})},
		{"ts zero is the receive time", `{"id":"px1","ts":0}`, pv(fields{ts: nowSec})},
		{"cd.value as a numeric string", `{"id":"px1","cd":{"value":"19.90"}}`, pv(fields{value: 19.9})},
		{"cd.value negative", `{"id":"px1","cd":{"value":-19.9}}`, pv(fields{value: -19.9})},
		{"cd.value empty string is no value", `{"id":"px1","cd":{"value":""}}`, pv(fields{})},
		{"cd.currency mixed case", `{"id":"px1","cd":{"currency":"uSd"}}`, pv(fields{currency: "USD"})},
		{"cd.currency empty", `{"id":"px1","cd":{"currency":""}}`, pv(fields{})},
		{"cd.order_id as a number", `{"id":"px1","cd":{"order_id":1042}}`, pv(fields{orderID: "1042"})},
		{"cd.content_ids numbers and strings", `{"id":"px1","cd":{"content_ids":[1,"b",2.5]}}`, pv(fields{contentIDs: []string{"1", "b", "2.5"}})},
		{"cd.content_ids empty entries skipped", `{"id":"px1","cd":{"content_ids":[""," ","a "]}}`, pv(fields{contentIDs: []string{"a"}})},
		{"cd.content_ids empty array", `{"id":"px1","cd":{"content_ids":[]}}`, pv(fields{})},
		{"cd.content_ids as a comma list", `{"id":"px1","cd":{"content_ids":"a, b"}}`, pv(fields{contentIDs: []string{"a", "b"}})},
		{"cd.content_ids as JSON text, as in the query", `{"id":"px1","cd":{"content_ids":"[\"a\",\"b\"]"}}`, pv(fields{contentIDs: []string{"a", "b"}})},
		{"cd.content_ids as one number", `{"id":"px1","cd":{"content_ids":7}}`, pv(fields{contentIDs: []string{"7"}})},
		{"cd.content_ids with escapes", `{"id":"px1","cd":{"content_ids":["a\"b","c\\d"]}}`, pv(fields{contentIDs: []string{`a"b`, `c\d`}})},
		{"custom values: string, number, bool", `{"id":"px1","cd":{"plan":"pro","seats":3,"trial":true,"paid":false,"ratio":-0.5e1}}`,
			pv(fields{props: `{"plan":"pro","seats":"3","trial":"true","paid":"false","ratio":"-0.5e1"}`})},
		{"custom null is skipped", `{"id":"px1","cd":{"a":null,"b":"x"}}`, pv(fields{props: `{"b":"x"}`})},
		{"custom values are escaped in props", `{"id":"px1","cd":{"q":"a\"b\\c\nd\u0001"}}`, pv(fields{props: `{"q":"a\"b\\c\nd\u0001"}`})},
		{"null is an absent key", `{"id":"px1","ev":null,"eid":null,"dl":null,"rl":null,"ts":null,"cd":null}`, pv(fields{})},
		{"cd null members", `{"id":"px1","cd":{"value":null,"currency":null,"order_id":null,"content_ids":null}}`, pv(fields{})},
		{"empty cd", `{"id":"px1","cd":{}}`, pv(fields{})},
		{"escapes are unescaped", `{"id":"p\u0078\u0031","dl":"https:\/\/x.example\/a\tb\u00e9\ud83d\ude00","rl":"\"\\\/\b\f\n\r\t"}`,
			pv(fields{url: "https://x.example/a\tbé😀", referrer: "\"\\/\b\f\n\r\t"})},
		{"escaped keys", `{"\u0069d":"px1","c\u0064":{"\u0076alue":2}}`, pv(fields{value: 2})},
		{"a lone surrogate becomes U+FFFD", `{"id":"px1","dl":"a\ud800b\udc00c"}`, pv(fields{url: "a\uFFFDb\uFFFDc"})},
		{"UTF-8 text", `{"id":"px1","dl":"https://x.example/世😀","cd":{"k":"café"}}`, pv(fields{url: "https://x.example/世😀", props: `{"k":"café"}`})},
		{"unknown keys are ignored, whatever their type", `{"r":1,"id":"px1","x":{"y":[1,{"z":null}]},"cdx":true,"cd":{"value":1}}`, pv(fields{value: 1})},
		{"order does not matter", `{"cd":{"value":1},"ev":"Lead","id":"px1"}`, pv(fields{name: "Lead", value: 1})},
		{"duplicates: the first wins", `{"id":"a","id":"b","ev":"E1","ev":"E2","eid":"x1","eid":"x2","dl":"u1","dl":"u2","rl":"r1","rl":"r2",
			"ts":` + tsMs + `,"ts":1,"cd":{"value":1,"value":2,"currency":"usd","currency":"eur","order_id":"o1","order_id":"o2",
			"content_ids":["c1"],"content_ids":["c2"],"k":"v1","k":"v2"},"cd":{"value":3}}`,
			fields{pixelID: "a", name: "E1", eventID: "x1", url: "u1", referrer: "r1", ts: nowSec - 1, value: 1,
				currency: "USD", orderID: "o1", contentIDs: []string{"c1"}, props: `{"k":"v1"}`}},
		{"duplicates: a later bad value is not looked at", `{"id":"px1","id":"bad id","ts":` + tsMs + `,"ts":"x","cd":{"value":1,"value":{},"currency":"usd","currency":"euro"}}`,
			pv(fields{ts: nowSec - 1, value: 1, currency: "USD"})},
		{"duplicates: a null first value still wins", `{"id":"px1","dl":null,"dl":"u2","cd":{"currency":null,"currency":"usd"}}`, pv(fields{})},
		{"dl empty", `{"id":"px1","dl":""}`, pv(fields{})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseOne(t, tc.body)
			if err != nil {
				t.Fatalf("%s: %v", tc.body, err)
			}
			if !got.equal(tc.want) {
				t.Fatalf("%s:\n got %+v\nwant %+v", tc.body, got, tc.want)
			}
		})
	}
}

func TestParseBodyInvalid(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	manyProps := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, `,"p%d":"v"`, i)
		}
		return `{"id":"px1","cd":{"x":"v"` + b.String() + `}}`
	}
	manyIDs := func(n int) string {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf(`"s%d"`, i)
		}
		return `{"id":"px1","cd":{"content_ids":[` + strings.Join(ids, ",") + `]}}`
	}
	for _, tc := range []struct {
		name, body string
		want       *InvalidError
	}{
		{"empty object", `{}`, ErrMissingPixelID},
		{"no id", `{"ev":"Purchase"}`, ErrMissingPixelID},
		{"id null", `{"id":null}`, ErrMissingPixelID},
		{"id empty", `{"id":""}`, ErrBadPixelID},
		{"id with a space", `{"id":"px 1"}`, ErrBadPixelID},
		{"id with an escaped slash", `{"id":"px\/1"}`, ErrBadPixelID},
		{"id with UTF-8", `{"id":"pé"}`, ErrBadPixelID},
		{"id too long", `{"id":"` + long(129) + `"}`, ErrBadPixelID},
		{"id a number", `{"id":1}`, ErrBadType},
		{"id an array", `{"id":["px1"]}`, ErrBadType},
		{"ev empty", `{"id":"px1","ev":""}`, ErrBadEvent},
		{"ev with a space", `{"id":"px1","ev":"Add To Cart"}`, ErrBadEvent},
		{"ev too long", `{"id":"px1","ev":"` + long(65) + `"}`, ErrBadEvent},
		{"ev a bool", `{"id":"px1","ev":true}`, ErrBadType},
		{"eid empty", `{"id":"px1","eid":""}`, ErrBadEventID},
		{"eid with a space", `{"id":"px1","eid":"a b"}`, ErrBadEventID},
		{"eid with an escaped control character", `{"id":"px1","eid":"a\u0001"}`, ErrBadEventID},
		{"eid not ASCII", `{"id":"px1","eid":"é"}`, ErrBadEventID},
		{"eid too long", `{"id":"px1","eid":"` + long(129) + `"}`, ErrBadEventID},
		{"eid a number", `{"id":"px1","eid":42}`, ErrBadType},
		{"dl too long", `{"id":"px1","dl":"` + long(4097) + `"}`, ErrTooLong},
		{"dl too long once unescaped", `{"id":"px1","dl":"` + strings.Repeat(`\u0061`, 4097) + `"}`, ErrTooLong},
		{"rl too long", `{"id":"px1","rl":"` + long(4097) + `"}`, ErrTooLong},
		{"dl an object", `{"id":"px1","dl":{}}`, ErrBadType},
		{"rl a number", `{"id":"px1","rl":1}`, ErrBadType},
		{"ts empty", `{"id":"px1","ts":""}`, ErrBadTS},
		{"ts garbage", `{"id":"px1","ts":"yesterday"}`, ErrBadTS},
		{"ts negative", `{"id":"px1","ts":-1767268800000}`, ErrBadTS},
		{"ts fraction", `{"id":"px1","ts":1767268800000.5}`, ErrBadTS},
		{"ts exponent", `{"id":"px1","ts":1.7e12}`, ErrBadTS},
		{"ts 20 digits", `{"id":"px1","ts":17672688000000000000}`, ErrBadTS},
		{"ts a bool", `{"id":"px1","ts":true}`, ErrBadType},
		{"cd a string", `{"id":"px1","cd":"value=1"}`, ErrBadType},
		{"cd an array", `{"id":"px1","cd":[]}`, ErrBadType},
		{"cd.value garbage", `{"id":"px1","cd":{"value":"ten"}}`, ErrBadValue},
		{"cd.value with a currency sign", `{"id":"px1","cd":{"value":"$9.99"}}`, ErrBadValue},
		{"cd.value NaN", `{"id":"px1","cd":{"value":"NaN"}}`, ErrBadValue},
		{"cd.value Inf", `{"id":"px1","cd":{"value":"-Inf"}}`, ErrBadValue},
		{"cd.value overflows", `{"id":"px1","cd":{"value":1e400}}`, ErrBadValue},
		{"cd.value with an exponent", `{"id":"px1","cd":{"value":-1.5e2}}`, ErrBadValue},
		{"cd.value a string with an exponent", `{"id":"px1","cd":{"value":"1e3"}}`, ErrBadValue},
		{"cd.value hexadecimal string", `{"id":"px1","cd":{"value":"0x1p4"}}`, ErrBadValue},
		{"cd.value string with underscores", `{"id":"px1","cd":{"value":"1_000"}}`, ErrBadValue},
		{"cd.value string with a plus sign", `{"id":"px1","cd":{"value":"+5"}}`, ErrBadValue},
		{"cd.value escaped exponent", `{"id":"px1","cd":{"value":"1\u00653"}}`, ErrBadValue},
		{"cd.value a bool", `{"id":"px1","cd":{"value":true}}`, ErrBadType},
		{"cd.value an object", `{"id":"px1","cd":{"value":{"amount":1}}}`, ErrBadType},
		{"cd.currency 4 letters", `{"id":"px1","cd":{"currency":"EURO"}}`, ErrBadCurrency},
		{"cd.currency symbol", `{"id":"px1","cd":{"currency":"€"}}`, ErrBadCurrency},
		{"cd.currency a number", `{"id":"px1","cd":{"currency":978}}`, ErrBadType},
		{"cd.order_id too long", `{"id":"px1","cd":{"order_id":"` + long(129) + `"}}`, ErrTooLong},
		{"cd.order_id a bool", `{"id":"px1","cd":{"order_id":false}}`, ErrBadType},
		{"cd.content_ids nested array", `{"id":"px1","cd":{"content_ids":[["a"]]}}`, ErrBadContentIDs},
		{"cd.content_ids object entry", `{"id":"px1","cd":{"content_ids":[{"id":"a"}]}}`, ErrBadContentIDs},
		{"cd.content_ids null entry", `{"id":"px1","cd":{"content_ids":["a",null]}}`, ErrBadContentIDs},
		{"cd.content_ids bool entry", `{"id":"px1","cd":{"content_ids":[true]}}`, ErrBadContentIDs},
		{"cd.content_ids too many", manyIDs(65), ErrBadContentIDs},
		{"cd.content_ids id too long", `{"id":"px1","cd":{"content_ids":["a","` + long(129) + `"]}}`, ErrTooLong},
		{"cd.content_ids a bad JSON text", `{"id":"px1","cd":{"content_ids":"[\"a\""}}`, ErrBadContentIDs},
		{"cd.content_ids an object", `{"id":"px1","cd":{"content_ids":{"0":"a"}}}`, ErrBadType},
		{"custom key with a space", `{"id":"px1","cd":{"my key":"v"}}`, ErrBadProp},
		{"custom key empty", `{"id":"px1","cd":{"":"v"}}`, ErrBadProp},
		{"custom key too long", `{"id":"px1","cd":{"` + long(65) + `":"v"}}`, ErrBadProp},
		{"custom value too long", `{"id":"px1","cd":{"k":"` + long(513) + `"}}`, ErrTooLong},
		{"custom value an object", `{"id":"px1","cd":{"k":{"a":1}}}`, ErrBadType},
		{"custom value an array", `{"id":"px1","cd":{"k":[1]}}`, ErrBadType},
		{"too many custom keys", manyProps(32), ErrTooManyProps},
		{"the first bad field in document order counts", `{"id":"px1","ev":"Purchase","ts":"x","cd":{"value":"y"}}`, ErrBadTS},
		{"a bad field after a good cd", `{"cd":{"value":1},"id":"a b"}`, ErrBadPixelID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseOne(t, tc.body); err != tc.want {
				t.Fatalf("%.120s: %v, want %v", tc.body, err, tc.want)
			}
		})
	}
}

// TestParseBodyLikeQuery checks the one mental model: a body and the query
// string that say the same thing give the same event or the same reason.
func TestParseBodyLikeQuery(t *testing.T) {
	for _, tc := range []struct{ query, body string }{
		{"id=px1", `{"id":"px1"}`},
		{"id=px1&ev=Purchase&eid=o-1&dl=https%3A%2F%2Fs.example%2Fa&rl=r&ts=1767268799123&cd[value]=19.90&cd[currency]=eur&cd[order_id]=o-1&cd[content_ids]=a,b&cd[coupon]=X",
			`{"id":"px1","ev":"Purchase","eid":"o-1","dl":"https://s.example/a","rl":"r","ts":1767268799123,"cd":{"value":"19.90","currency":"eur","order_id":"o-1","content_ids":["a","b"],"coupon":"X"}}`},
		{"id=px1&cd[seats]=3&cd[trial]=true", `{"id":"px1","cd":{"seats":3,"trial":true}}`},
		{"ev=Lead", `{"ev":"Lead"}`},
		{"id=a/b", `{"id":"a/b"}`},
		{"id=px1&ev=", `{"id":"px1","ev":""}`},
		{"id=px1&eid=a+b", `{"id":"px1","eid":"a b"}`},
		{"id=px1&ts=x", `{"id":"px1","ts":"x"}`},
		{"id=px1&cd[value]=ten", `{"id":"px1","cd":{"value":"ten"}}`},
		{"id=px1&cd[currency]=EURO", `{"id":"px1","cd":{"currency":"EURO"}}`},
		{"id=px1&cd[bad+key]=1", `{"id":"px1","cd":{"bad key":1}}`},
		{"id=px1&cd[k]=" + strings.Repeat("v", 513), `{"id":"px1","cd":{"k":"` + strings.Repeat("v", 513) + `"}}`},
		{"id=px1&dl=" + strings.Repeat("u", 4097), `{"id":"px1","dl":"` + strings.Repeat("u", 4097) + `"}`},
	} {
		want, wantErr := parseQuery(t, tc.query)
		got, err := parseOne(t, tc.body)
		if err != wantErr || (err == nil && !got.equal(want)) {
			t.Errorf("query %.80q: %+v, %v\nbody %.80q: %+v, %v", tc.query, want, wantErr, tc.body, got, err)
		}
	}
}

func TestParseBodyAtTheLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"id":"` + strings.Repeat("i", 128) + `","ev":"` + strings.Repeat("e", 64) + `","eid":"` + strings.Repeat("x", 128) + `"`)
	b.WriteString(`,"dl":"` + strings.Repeat("u", 4096) + `","rl":"` + strings.Repeat(`\u0072`, 4096) + `"`)
	b.WriteString(`,"cd":{"order_id":"` + strings.Repeat("o", 128) + `","content_ids":[`)
	for i := range 64 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"` + strings.Repeat("c", 128) + `"`)
	}
	b.WriteString("]")
	for i := range 32 {
		fmt.Fprintf(&b, `,"%s%02d":"%s"`, strings.Repeat("k", 62), i, strings.Repeat("v", 512))
	}
	b.WriteString("}}")
	got, err := parseOne(t, b.String())
	if err != nil {
		t.Fatalf("an event exactly at every limit is invalid: %v", err)
	}
	if len(got.contentIDs) != 64 || strings.Count(got.props, `":"`) != 32 || got.referrer != strings.Repeat("r", 4096) {
		t.Fatalf("got %d content ids, %d props, referrer of %d bytes", len(got.contentIDs), strings.Count(got.props, `":"`), len(got.referrer))
	}
}

func TestParseBodyBatch(t *testing.T) {
	body := `[
		{"id":"px1","ev":"PageView"},
		{"ev":"NoID"},
		{"id":"px1","ev":"Purchase","cd":{"value":"19.90","currency":"EUR","content_ids":["sku-1"]}},
		42,
		"text",
		null,
		[{"id":"px1"}],
		{"id":"px1","cd":{"value":{}}},
		{"id":"px2","ev":"Lead"}
	]`
	evs, excess, err := parseBody(t, body)
	if err != nil {
		t.Fatal(err)
	}
	want := []bodyEvent{
		{fields{pixelID: "px1", name: "PageView"}, nil},
		{fields{}, ErrMissingPixelID},
		{fields{pixelID: "px1", name: "Purchase", value: 19.9, currency: "EUR", contentIDs: []string{"sku-1"}}, nil},
		{fields{}, ErrBadType},
		{fields{}, ErrBadType},
		{fields{}, ErrBadType},
		{fields{}, ErrBadType},
		{fields{}, ErrBadType},
		{fields{pixelID: "px2", name: "Lead"}, nil},
	}
	if len(evs) != len(want) || excess != 0 {
		t.Fatalf("%d events, %d excess; want %d, 0", len(evs), excess, len(want))
	}
	for i, w := range want {
		if evs[i].err != w.err || (w.err == nil && !evs[i].f.equal(w.f)) {
			t.Errorf("event %d: %+v, %v; want %+v, %v", i, evs[i].f, evs[i].err, w.f, w.err)
		}
	}
}

func TestBodyLimitsEvents(t *testing.T) {
	batch := func(n int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(`{"id":"px1"},`, n), ",") + "]"
	}
	for _, tc := range []struct {
		name           string
		body           string
		max            int
		events, excess int
	}{
		{"one object", `{"id":"px1"}`, 100, 1, 0},
		{"empty batch", `[]`, 100, 0, 0},
		{"empty batch with spaces", " [ ] ", 100, 0, 0},
		{"batch of one", batch(1), 100, 1, 0},
		{"at the limit", batch(100), 100, 100, 0},
		{"over the limit", batch(103), 100, 100, 3},
		{"no limit", batch(150), 0, 150, 0},
		{"the excess need not be objects", `[{"id":"a"},1,"x",[],{}]`, 1, 1, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b Body
			if err := b.Reset([]byte(tc.body), tc.max); err != nil {
				t.Fatal(err)
			}
			if b.Len() != tc.events || b.Excess() != tc.excess {
				t.Fatalf("Len %d, Excess %d; want %d, %d", b.Len(), b.Excess(), tc.events, tc.excess)
			}
			lim := DefaultLimits()
			h := new(Hit)
			n := 0
			for b.Len() > 0 {
				h.resetEvent()
				if err := b.Next(h, &lim, testNow); err != nil {
					t.Fatalf("event %d: %v", n, err)
				}
				n++
			}
			if n != tc.events {
				t.Fatalf("read %d events, want %d", n, tc.events)
			}
			if err := b.Next(h, &lim, testNow); err != ErrBadBody {
				t.Fatalf("Next after the last event = %v, want ErrBadBody", err)
			}
		})
	}
}

func TestBodyResetRefusesWhatIsNotJSON(t *testing.T) {
	deep := strings.Repeat("[", 40) + strings.Repeat("]", 40)
	for _, body := range []string{
		"", " ", "\n", "null", "true", "42", `"text"`, "id=px1&ev=PageView",
		"{", "}", "[", "]", "{]", "[}", `{"id":"px1"`, `{"id":"px1"}}`, `[{"id":"px1"}`, `[{"id":"px1"}]]`,
		`{"id":"px1"} {"id":"px2"}`, `{"id":"px1"},{"id":"px2"}`, `{"id":"px1"}x`, `[{"id":"px1"},]`, `[,{"id":"px1"}]`, `[{"id":"px1"} {"id":"px2"}]`,
		`{"id":"px1",}`, `{,"id":"px1"}`, `{"id" "px1"}`, `{"id":}`, `{id:"px1"}`, `{'id':'px1'}`, `{"id":"px1";"ev":"x"}`,
		`{"id":"px1\x01"}`, "{\"id\":\"px1\n\"}", `{"id":"px1\q"}`, `{"id":"px1\u12"}`, `{"id":"px1\u12g4"}`, `{"id":"px1\`,
		`{"id":"px1","ts":01}`, `{"id":"px1","ts":+1}`, `{"id":"px1","ts":.5}`, `{"id":"px1","ts":1.}`, `{"id":"px1","ts":1e}`, `{"id":"px1","ts":-}`,
		`{"id":"px1","x":tru}`, `{"id":"px1","x":nul}`, `{"id":"px1","x":True}`, `{"id":"px1","x":NaN}`, `{"id":"px1","x":undefined}`,
		`[` + deep + `]`, `{"x":` + deep + `}`,
		"\xef\xbb\xbf{\"id\":\"px1\"}", // a byte order mark is not JSON
		"{\"id\":\"px1\"}\x00",
	} {
		var b Body
		if err := b.Reset([]byte(body), 100); err != ErrBadBody {
			t.Errorf("Reset(%.60q) = %v, want ErrBadBody", body, err)
		}
		if b.Len() != 0 || b.Excess() != 0 {
			t.Errorf("Reset(%.60q) refused the body but left %d events, %d excess", body, b.Len(), b.Excess())
		}
	}
	// Nesting up to the limit is fine, in parts of an event nobody reads.
	ok := `{"id":"px1","x":` + strings.Repeat("[", jsonscan.MaxDepth-1) + strings.Repeat("]", jsonscan.MaxDepth-1) + `}`
	if _, err := parseOne(t, ok); err != nil {
		t.Errorf("nesting of %d: %v", jsonscan.MaxDepth, err)
	}
}

func TestFromBody(t *testing.T) {
	body := `[{"id":"px1","ev":"PageView"},{"id":"px1","ev":"Bad Name"},{"id":"px1","ev":"Purchase","eid":"o-1","dl":"https://shop.example/ok"}]`
	run := func(t *testing.T, cfg Config, headers ...string) ([]outcome, error) {
		t.Helper()
		ctx := newCtx(t, "203.0.113.7", "/collect", append([]string{"User-Agent: " + browserUA, "Referer: https://shop.example/from-referer"}, headers...)...)
		var b Body
		if err := b.Reset([]byte(body), 100); err != nil {
			return nil, err
		}
		h := AcquireHit()
		defer ReleaseHit(h)
		var out []outcome
		for b.Len() > 0 {
			err := h.FromBody(ctx, &cfg, &b, testNow)
			e := h.Event
			out = append(out, outcome{
				err: err, name: string(e.Name), eventID: string(e.EventID), visitor: string(e.VisitorID),
				session: string(e.SessionID), ip: string(e.IP), ua: string(e.UserAgent), url: string(e.URL), receivedAt: e.ReceivedAt,
			})
		}
		return out, nil
	}

	t.Run("new visitor: the events share the new ids", func(t *testing.T) {
		evs, err := run(t, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 3 || evs[0].err != nil || evs[1].err != ErrBadEvent || evs[2].err != nil {
			t.Fatalf("outcomes %+v", evs)
		}
		a, c := evs[0], evs[2]
		if len(a.visitor) != VisitorIDLen || a.visitor != c.visitor || a.session != c.session || a.visitor == a.session {
			t.Errorf("visitor %q/%q, session %q/%q: want one new visitor and one new session for the request", a.visitor, c.visitor, a.session, c.session)
		}
		checkUUIDv7(t, a.eventID, testNow)
		if c.eventID != "o-1" {
			t.Errorf("eid %q, want the client's o-1", c.eventID)
		}
		for _, e := range []outcome{a, c} {
			if e.ip != "203.0.113.7" || e.ua != browserUA || e.receivedAt != nowSec {
				t.Errorf("ip %q, user agent %q, received_at %d", e.ip, e.ua, e.receivedAt)
			}
		}
		if a.url != "https://shop.example/from-referer" || c.url != "https://shop.example/ok" {
			t.Errorf("urls %q, %q: want the Referer without dl, dl otherwise", a.url, c.url)
		}
	})
	t.Run("returning visitor", func(t *testing.T) {
		evs, err := run(t, DefaultConfig(), "Cookie: _pxid="+visitorID+"; _pxsid="+sessionID)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{0, 2} {
			if evs[i].visitor != visitorID || evs[i].session != sessionID {
				t.Errorf("event %d: visitor %q session %q, want the cookies'", i, evs[i].visitor, evs[i].session)
			}
		}
	})
	t.Run("every event of an opted-out browser is refused", func(t *testing.T) {
		evs, err := run(t, DefaultConfig(), "Cookie: _pxoptout=1")
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 3 {
			t.Fatalf("%d outcomes, want 3", len(evs))
		}
		for i, e := range evs {
			if e.err != ErrOptedOut {
				t.Errorf("event %d: %v, want ErrOptedOut", i, e.err)
			}
		}
	})
}

// outcome is what TestFromBody looks at.
type outcome struct {
	err                                          error
	name, eventID, visitor, session, ip, ua, url string
	receivedAt                                   int64
}

// TestBodyDepth checks the nesting limit at its edge, for one event and in
// a batch, where the array is one level more: the outermost value is at
// depth 0, and an object or array deeper than jsonscan.MaxDepth is refused.
func TestBodyDepth(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("[", n) + "1" + strings.Repeat("]", n) }
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"event: innermost array at the limit", `{"id":"px1","x":` + nest(jsonscan.MaxDepth) + `}`, true},
		{"event: one level too deep", `{"id":"px1","x":` + nest(jsonscan.MaxDepth+1) + `}`, false},
		{"batch: innermost array at the limit", `[{"id":"px1","x":` + nest(jsonscan.MaxDepth-1) + `}]`, true},
		{"batch: one level too deep", `[{"id":"px1","x":` + nest(jsonscan.MaxDepth) + `}]`, false},
		{"batch: too deep in an element beyond the limit", `[{"id":"px1"},` + nest(jsonscan.MaxDepth+1) + `]`, false},
		{"cd: innermost array at the limit", `{"id":"px1","cd":{"k":` + nest(jsonscan.MaxDepth-1) + `}}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b Body
			err := b.Reset([]byte(tc.body), 1)
			if (err == nil) != tc.ok {
				t.Fatalf("Reset = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
