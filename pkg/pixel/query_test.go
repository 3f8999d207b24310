package pixel

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/pixel-pipeline/pixel/pkg/event"
)

// testNow is the receive time of every test hit.
var testNow = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC) // unix 1767268800

const nowSec = 1767268800

// fields are the parts of an event that ParseQuery fills, as plain values.
type fields struct {
	pixelID, name, eventID, url, referrer string
	ts                                    int64
	value                                 float64
	currency, orderID                     string
	contentIDs                            []string
	props                                 string
	engaged                               int64
	bot                                   bool
	tracking                              [event.NumTracking]string
}

func fieldsOf(e *event.Event) fields {
	var ids []string
	for _, id := range e.ContentIDs {
		ids = append(ids, string(id))
	}
	return fields{
		pixelID: string(e.PixelID), name: string(e.Name), eventID: string(e.EventID),
		url: string(e.URL), referrer: string(e.Referrer), ts: e.TS, value: e.Value,
		currency: string(e.Currency), orderID: string(e.OrderID), contentIDs: ids, props: string(e.Props),
		engaged: e.EngagedMs, bot: e.IsBot, tracking: trackingOf(e),
	}
}

func trackingOf(e *event.Event) (t [event.NumTracking]string) {
	for i, v := range e.Tracking {
		t[i] = string(v)
	}
	return t
}

func (f fields) equal(g fields) bool {
	return f.pixelID == g.pixelID && f.name == g.name && f.eventID == g.eventID &&
		f.url == g.url && f.referrer == g.referrer && f.ts == g.ts && f.value == g.value &&
		f.currency == g.currency && f.orderID == g.orderID &&
		slices.Equal(f.contentIDs, g.contentIDs) && f.props == g.props &&
		f.engaged == g.engaged && f.bot == g.bot && f.tracking == g.tracking
}

// parseQuery runs ParseQuery with the default limits on query, parsed into
// fresh Args and into Args that held another query before (as a server's
// reused request does), and ParseRawQuery on the raw query with a fresh Hit
// and with one that parsed another query before: all must give the same
// outcome.
func parseQuery(t *testing.T, query string) (fields, error) {
	t.Helper()
	lim := DefaultLimits()
	var fresh fasthttp.Args
	fresh.Parse(query)
	h1 := new(Hit)
	err1 := ParseQuery(&fresh, h1, &lim, testNow)

	var reused fasthttp.Args
	reused.Parse(strings.Repeat("k=previous-value&", 40))
	reused.Parse(query)
	h2 := AcquireHit()
	defer ReleaseHit(h2)
	err2 := ParseQuery(&reused, h2, &lim, testNow)

	if err1 != err2 {
		t.Fatalf("ParseQuery(%q) = %v with fresh Args, %v with reused Args", query, err1, err2)
	}
	f1, f2 := fieldsOf(&h1.Event), fieldsOf(&h2.Event)
	if err1 == nil && !f1.equal(f2) {
		t.Fatalf("ParseQuery(%q) with fresh Args:\n %+v\nwith reused Args:\n %+v", query, f1, f2)
	}

	h3 := new(Hit)
	err3 := ParseRawQuery([]byte(query), h3, &lim, testNow)
	h4 := AcquireHit()
	defer ReleaseHit(h4)
	_ = ParseRawQuery([]byte(strings.Repeat("cd%5Bk%5D=previous+value&", 40)), h4, &lim, testNow)
	h4.Reset()
	err4 := ParseRawQuery([]byte(query), h4, &lim, testNow)
	for _, raw := range []struct {
		err error
		h   *Hit
		how string
	}{{err3, h3, "a fresh Hit"}, {err4, h4, "a reused Hit"}} {
		if raw.err != err1 {
			t.Fatalf("ParseRawQuery(%q) with %s = %v, ParseQuery = %v", query, raw.how, raw.err, err1)
		}
		if f := fieldsOf(&raw.h.Event); err1 == nil && !f.equal(f1) {
			t.Fatalf("ParseRawQuery(%q) with %s:\n %+v\nParseQuery:\n %+v", query, raw.how, f, f1)
		}
	}
	return f1, err1
}

func TestParseQuery(t *testing.T) {
	const (
		skewSec = 24 * 60 * 60
		tsMs    = "1767268799123" // a second before testNow
	)
	for _, tc := range []struct {
		name, query string
		want        fields
	}{
		{"id only: ev defaults to PageView", "id=px1", fields{pixelID: "px1", name: "PageView"}},
		{"id with every allowed character", "id=Az09_.:-", fields{pixelID: "Az09_.:-", name: "PageView"}},
		{"ev", "id=px1&ev=Purchase", fields{pixelID: "px1", name: "Purchase"}},
		{"eid", "id=px1&eid=0190a1b2-c3d4-7e5f/8a9b%7E", fields{pixelID: "px1", name: "PageView", eventID: "0190a1b2-c3d4-7e5f/8a9b~"}},
		{"dl and rl", "id=px1&dl=https%3A%2F%2Fshop.example%2Fp%3Fa%3D1%26b%3D2&rl=https://www.google.com/", fields{
			pixelID: "px1", name: "PageView", url: "https://shop.example/p?a=1&b=2", referrer: "https://www.google.com/",
		}},
		{"ts in milliseconds", "id=px1&ts=" + tsMs, fields{pixelID: "px1", name: "PageView", ts: nowSec - 1}},
		{"ts at the skew limit in the past", fmt.Sprintf("id=px1&ts=%d000", nowSec-skewSec), fields{pixelID: "px1", name: "PageView", ts: nowSec - skewSec}},
		{"ts at the skew limit in the future", fmt.Sprintf("id=px1&ts=%d999", nowSec+skewSec), fields{pixelID: "px1", name: "PageView", ts: nowSec + skewSec}},
		{"ts too far in the past is the receive time", fmt.Sprintf("id=px1&ts=%d999", nowSec-skewSec-1), fields{pixelID: "px1", name: "PageView", ts: nowSec}},
		{"ts too far in the future is the receive time", fmt.Sprintf("id=px1&ts=%d000", nowSec+skewSec+1), fields{pixelID: "px1", name: "PageView", ts: nowSec}},
		{"ts in seconds by mistake is the receive time", "id=px1&ts=1767268800", fields{pixelID: "px1", name: "PageView", ts: nowSec}},
		{"ts zero is the receive time", "id=px1&ts=0", fields{pixelID: "px1", name: "PageView", ts: nowSec}},
		{"ts of 19 digits", "id=px1&ts=9999999999999999999", fields{pixelID: "px1", name: "PageView", ts: nowSec}},
		{"cd[value]", "id=px1&cd[value]=129.99", fields{pixelID: "px1", name: "PageView", value: 129.99}},
		{"cd[value] negative", "id=px1&cd[value]=-19.90", fields{pixelID: "px1", name: "PageView", value: -19.9}},
		{"cd[value] empty is no value", "id=px1&cd[value]=", fields{pixelID: "px1", name: "PageView"}},
		{"cd[currency] is upper-cased", "id=px1&cd[currency]=eur", fields{pixelID: "px1", name: "PageView", currency: "EUR"}},
		{"cd[currency] mixed case", "id=px1&cd[currency]=uSd", fields{pixelID: "px1", name: "PageView", currency: "USD"}},
		{"cd[currency] empty", "id=px1&cd[currency]=", fields{pixelID: "px1", name: "PageView"}},
		{"cd[order_id]", "id=px1&cd[order_id]=ord 42/x", fields{pixelID: "px1", name: "PageView", orderID: "ord 42/x"}},
		{"cd[content_ids] JSON strings", `id=px1&cd[content_ids]=["sku-1","sku 2"]`, fields{pixelID: "px1", name: "PageView", contentIDs: []string{"sku-1", "sku 2"}}},
		{"cd[content_ids] JSON numbers", "id=px1&cd[content_ids]=[ 1, 2.5 ,-3e2]", fields{pixelID: "px1", name: "PageView", contentIDs: []string{"1", "2.5", "-3e2"}}},
		{"cd[content_ids] JSON mixed", `id=px1&cd[content_ids]=["a",7]`, fields{pixelID: "px1", name: "PageView", contentIDs: []string{"a", "7"}}},
		{"cd[content_ids] JSON empty", "id=px1&cd[content_ids]=[]", fields{pixelID: "px1", name: "PageView"}},
		{"cd[content_ids] JSON empty strings skipped", `id=px1&cd[content_ids]=["",""]`, fields{pixelID: "px1", name: "PageView"}},
		{"cd[content_ids] comma list", "id=px1&cd[content_ids]=sku1, sku2 ,sku3", fields{pixelID: "px1", name: "PageView", contentIDs: []string{"sku1", "sku2", "sku3"}}},
		{"cd[content_ids] comma list skips empty entries", "id=px1&cd[content_ids]=,a,,b,", fields{pixelID: "px1", name: "PageView", contentIDs: []string{"a", "b"}}},
		{"cd[content_ids] one id", "id=px1&cd[content_ids]=sku1", fields{pixelID: "px1", name: "PageView", contentIDs: []string{"sku1"}}},
		{"cd[content_ids] percent-encoded JSON", "id=px1&cd%5Bcontent_ids%5D=%5B%22a%22%2C%22b%22%5D", fields{pixelID: "px1", name: "PageView", contentIDs: []string{"a", "b"}}},
		{"custom cd keys become props", "id=px1&cd[plan]=pro&cd[seats]=3", fields{pixelID: "px1", name: "PageView", props: `{"plan":"pro","seats":"3"}`}},
		{"props values are escaped", "id=px1&cd[q]=a%22b%5Cc%0Ad", fields{pixelID: "px1", name: "PageView", props: `{"q":"a\"b\\c\nd"}`}},
		{"props value empty", "id=px1&cd[flag]=", fields{pixelID: "px1", name: "PageView", props: `{"flag":""}`}},
		{"props with invalid UTF-8 stay valid JSON", "id=px1&cd[x]=%FF", fields{pixelID: "px1", name: "PageView", props: `{"x":"\ufffd"}`}},
		{"percent-encoded brackets", "id=px1&cd%5Bvalue%5D=5&cd%5bcurrency%5d=gbp", fields{pixelID: "px1", name: "PageView", value: 5, currency: "GBP"}},
		{"plus is a space", "id=px1&dl=a+b&cd[k]=x+y", fields{pixelID: "px1", name: "PageView", url: "a b", props: `{"k":"x y"}`}},
		{"UTF-8 escapes", "id=px1&dl=https://x.example/%E4%B8%96%F0%9F%98%80", fields{pixelID: "px1", name: "PageView", url: "https://x.example/世😀"}},
		{"percent-encoded id", "id=px%5F1", fields{pixelID: "px_1", name: "PageView"}},
		{"unknown parameters are ignored", "_=1767268800123&id=px1&foo=bar&cd=1&cd[=2&cdx]=3&xcd[a]=4&v=2", fields{pixelID: "px1", name: "PageView"}},
		{"parameter without =", "id=px1&noscript", fields{pixelID: "px1", name: "PageView"}},
		{"order does not matter", "cd[value]=1&ev=Lead&id=px1", fields{pixelID: "px1", name: "Lead", value: 1}},
		{"duplicates: the first wins", "id=a&id=b&ev=E1&ev=E2&eid=x1&eid=x2&dl=u1&dl=u2&rl=r1&rl=r2&ts=" + tsMs + "&ts=1" +
			"&cd[value]=1&cd[value]=2&cd[currency]=usd&cd[currency]=eur&cd[order_id]=o1&cd[order_id]=o2" +
			"&cd[content_ids]=c1&cd[content_ids]=c2&cd[k]=v1&cd[k]=v2",
			fields{
				pixelID: "a", name: "E1", eventID: "x1", url: "u1", referrer: "r1", ts: nowSec - 1, value: 1,
				currency: "USD", orderID: "o1", contentIDs: []string{"c1"}, props: `{"k":"v1"}`,
			}},
		{"duplicates: a later bad value is not looked at", "id=px1&ts=" + tsMs + "&ts=bad&cd[value]=1&cd[value]=x&cd[currency]=usd&cd[currency]=euro",
			fields{pixelID: "px1", name: "PageView", ts: nowSec - 1, value: 1, currency: "USD"}},
		{"duplicates: an empty first value still wins", "id=px1&dl=&dl=u2&rl=&rl=r2&cd[currency]=&cd[currency]=usd&cd[order_id]=&cd[order_id]=o2&cd[value]=&cd[value]=3",
			fields{pixelID: "px1", name: "PageView"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseQuery(t, tc.query)
			if err != nil {
				t.Fatalf("ParseQuery(%q): %v", tc.query, err)
			}
			if !got.equal(tc.want) {
				t.Fatalf("ParseQuery(%q):\n got %+v\nwant %+v", tc.query, got, tc.want)
			}
		})
	}
}

func TestParseQueryInvalid(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	manyProps := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "&cd[p%d]=v", i)
		}
		return b.String()
	}
	manyIDs := func(n int) string {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprint("s", i)
		}
		return strings.Join(ids, ",")
	}
	for _, tc := range []struct {
		name, query string
		want        *InvalidError
	}{
		{"empty query", "", ErrMissingPixelID},
		{"no id", "ev=Purchase&dl=x", ErrMissingPixelID},
		{"id empty", "id=", ErrBadPixelID},
		{"id without =", "id", ErrBadPixelID},
		{"id with a space", "id=px+1", ErrBadPixelID},
		{"id with a slash", "id=px/1", ErrBadPixelID},
		{"id with UTF-8", "id=p%C3%A9", ErrBadPixelID},
		{"id too long", "id=" + long(129), ErrBadPixelID},
		{"ev empty", "id=px1&ev=", ErrBadEvent},
		{"ev with a space", "id=px1&ev=Add+To+Cart", ErrBadEvent},
		{"ev too long", "id=px1&ev=" + long(65), ErrBadEvent},
		{"eid empty", "id=px1&eid=", ErrBadEventID},
		{"eid with a space", "id=px1&eid=a%20b", ErrBadEventID},
		{"eid with a control character", "id=px1&eid=a%01", ErrBadEventID},
		{"eid not ASCII", "id=px1&eid=%C3%A9", ErrBadEventID},
		{"eid too long", "id=px1&eid=" + long(129), ErrBadEventID},
		{"dl too long", "id=px1&dl=" + long(4097), ErrTooLong},
		{"rl too long", "id=px1&rl=" + long(4097), ErrTooLong},
		{"ts empty", "id=px1&ts=", ErrBadTS},
		{"ts garbage", "id=px1&ts=yesterday", ErrBadTS},
		{"ts negative", "id=px1&ts=-1767268800000", ErrBadTS},
		{"ts fraction", "id=px1&ts=1767268800000.5", ErrBadTS},
		{"ts 20 digits", "id=px1&ts=17672688000000000000", ErrBadTS},
		{"cd[value] garbage", "id=px1&cd[value]=ten", ErrBadValue},
		{"cd[value] with a currency sign", "id=px1&cd[value]=%249.99", ErrBadValue},
		{"cd[value] NaN", "id=px1&cd[value]=NaN", ErrBadValue},
		{"cd[value] Inf", "id=px1&cd[value]=Inf", ErrBadValue},
		{"cd[value] overflows", "id=px1&cd[value]=1e400", ErrBadValue},
		{"cd[value] with an exponent", "id=px1&cd[value]=-1.5e2", ErrBadValue},
		{"cd[value] hexadecimal", "id=px1&cd[value]=0x1p4", ErrBadValue},
		{"cd[value] underscores", "id=px1&cd[value]=1_000", ErrBadValue},
		{"cd[value] plus sign", "id=px1&cd[value]=%2B5", ErrBadValue},
		{"cd[value] plus sign as a space", "id=px1&cd[value]=+5", ErrBadValue},
		{"cd[currency] 4 letters", "id=px1&cd[currency]=EURO", ErrBadCurrency},
		{"cd[currency] 2 letters", "id=px1&cd[currency]=EU", ErrBadCurrency},
		{"cd[currency] digits", "id=px1&cd[currency]=E1R", ErrBadCurrency},
		{"cd[currency] symbol", "id=px1&cd[currency]=%E2%82%AC", ErrBadCurrency},
		{"cd[order_id] too long", "id=px1&cd[order_id]=" + long(129), ErrTooLong},
		{"cd[content_ids] unclosed array", `id=px1&cd[content_ids]=["a"`, ErrBadContentIDs},
		{"cd[content_ids] unclosed string", `id=px1&cd[content_ids]=["a]`, ErrBadContentIDs},
		{"cd[content_ids] trailing comma", `id=px1&cd[content_ids]=["a",]`, ErrBadContentIDs},
		{"cd[content_ids] leading comma", `id=px1&cd[content_ids]=[,"a"]`, ErrBadContentIDs},
		{"cd[content_ids] missing comma", `id=px1&cd[content_ids]=["a" "b"]`, ErrBadContentIDs},
		{"cd[content_ids] escapes are not supported", `id=px1&cd[content_ids]=["a\"b"]`, ErrBadContentIDs},
		{"cd[content_ids] bare word in an array", "id=px1&cd[content_ids]=[sku1]", ErrBadContentIDs},
		{"cd[content_ids] inf is not a JSON number", "id=px1&cd[content_ids]=[inf]", ErrBadContentIDs},
		{"cd[content_ids] hexadecimal is not a JSON number", "id=px1&cd[content_ids]=[0x10]", ErrBadContentIDs},
		{"cd[content_ids] underscores are not a JSON number", "id=px1&cd[content_ids]=[1_000]", ErrBadContentIDs},
		{"cd[content_ids] plus sign is not a JSON number", "id=px1&cd[content_ids]=[%2B1]", ErrBadContentIDs},
		{"cd[content_ids] leading zero is not a JSON number", "id=px1&cd[content_ids]=[01]", ErrBadContentIDs},
		{"cd[content_ids] nested array", `id=px1&cd[content_ids]=[["a"]]`, ErrBadContentIDs},
		{"cd[content_ids] too many", "id=px1&cd[content_ids]=" + manyIDs(65), ErrBadContentIDs},
		{"cd[content_ids] id too long", "id=px1&cd[content_ids]=a," + long(129), ErrTooLong},
		{"cd[content_ids] JSON id too long", `id=px1&cd[content_ids]=["` + long(129) + `"]`, ErrTooLong},
		{"custom key with a space", "id=px1&cd[my+key]=v", ErrBadProp},
		{"custom key is a bracket", "id=px1&cd[]]=v", ErrBadProp},
		{"custom key too long", "id=px1&cd[" + long(65) + "]=v", ErrBadProp},
		{"custom value too long", "id=px1&cd[k]=" + long(513), ErrTooLong},
		{"too many custom keys", "id=px1" + manyProps(33), ErrTooManyProps},
		{"a bad parameter after a good id", "id=px1&ev=Purchase&ts=x&dl=https://x.example/", ErrBadTS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseQuery(t, tc.query); err != tc.want {
				t.Fatalf("ParseQuery(%.80q) = %v, want %v", tc.query, err, tc.want)
			}
		})
	}
}

func TestParseQueryAtTheLimits(t *testing.T) {
	var q strings.Builder
	q.WriteString("id=" + strings.Repeat("i", 128))
	q.WriteString("&ev=" + strings.Repeat("e", 64))
	q.WriteString("&eid=" + strings.Repeat("x", 128))
	q.WriteString("&dl=" + strings.Repeat("u", 4096))
	q.WriteString("&rl=" + strings.Repeat("r", 4096))
	q.WriteString("&cd[order_id]=" + strings.Repeat("o", 128))
	q.WriteString("&cd[content_ids]=")
	for i := range 64 {
		if i > 0 {
			q.WriteString(",")
		}
		q.WriteString(strings.Repeat("c", 128))
	}
	for i := range 32 {
		fmt.Fprintf(&q, "&cd[%s%02d]=%s", strings.Repeat("k", 62), i, strings.Repeat("v", 512))
	}
	got, err := parseQuery(t, q.String())
	if err != nil {
		t.Fatalf("a hit exactly at every limit is invalid: %v", err)
	}
	if len(got.contentIDs) != 64 || strings.Count(got.props, `":"`) != 32 {
		t.Fatalf("got %d content ids and %d props, want 64 and 32", len(got.contentIDs), strings.Count(got.props, `":"`))
	}
}

func TestParseQueryRepeatedPropCountsOnce(t *testing.T) {
	q := "id=px1" + strings.Repeat("&cd[same]=v", 100)
	got, err := parseQuery(t, q)
	if err != nil {
		t.Fatalf("a repeated custom key counts once against MaxProps: %v", err)
	}
	if got.props != `{"same":"v"}` {
		t.Fatalf("props = %s", got.props)
	}
}

func TestClampTS(t *testing.T) {
	for _, tc := range []struct {
		name string
		ms   uint64
		skew time.Duration
		want int64
	}{
		{"zero is the receive time", 0, time.Hour, nowSec * 1000},
		{"within skew", (nowSec - 10) * 1000, time.Minute, (nowSec - 10) * 1000},
		{"milliseconds are kept", nowSec*1000 + 999, time.Minute, nowSec*1000 + 999},
		{"before skew", (nowSec - 61) * 1000, time.Minute, nowSec * 1000},
		{"after skew", (nowSec + 61) * 1000, time.Minute, nowSec * 1000},
		{"no skew allowed: same second", nowSec*1000 + 500, 0, nowSec*1000 + 500},
		{"no skew allowed: a second off", (nowSec + 1) * 1000, 0, nowSec * 1000},
		{"a huge skew still keeps ts in the column's range", (event.MaxTime + 1) * 1000, 200 * 365 * 24 * time.Hour, nowSec * 1000},
		{"a huge skew lets an old ts through", 1000, 200 * 365 * 24 * time.Hour, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := clampTS(tc.ms, testNow, tc.skew); got != tc.want {
				t.Fatalf("clampTS(%d, now, %v) = %d, want %d", tc.ms, tc.skew, got, tc.want)
			}
		})
	}
}

// TestReasonsAreComplete checks that the reasons list names every
// *InvalidError this package returns, each once, so metrics can show them all.
func TestReasonsAreComplete(t *testing.T) {
	all := []*InvalidError{
		ErrMissingPixelID, ErrBadPixelID, ErrBadEvent, ErrBadEventID, ErrBadTS, ErrBadValue,
		ErrBadCurrency, ErrBadContentIDs, ErrBadProp, ErrTooManyProps, ErrTooLong, ErrOptedOut,
	}
	labels := map[string]bool{}
	for _, r := range Reasons {
		if labels[r.Reason] {
			t.Errorf("reason %q listed twice", r.Reason)
		}
		labels[r.Reason] = true
	}
	for _, e := range all {
		if !slices.Contains(Reasons, e) {
			t.Errorf("Reasons lacks %q", e.Reason)
		}
		if !strings.HasPrefix(e.Error(), "pixel: ") {
			t.Errorf("%q: Error() = %q, want the pixel: prefix", e.Reason, e.Error())
		}
	}
}

func TestValueBeyondWhatTheConsumerStoresIsInvalid(t *testing.T) {
	for _, v := range []string{"10000000000000000", "-10000000000000000", "1000000000000001", "1" + strings.Repeat("0", 400), "NaN", "Inf"} {
		var args fasthttp.Args
		args.Parse("id=px&cd[value]=" + v)
		h := AcquireHit()
		lim := DefaultLimits()
		if err := ParseQuery(&args, h, &lim, time.Now()); err != ErrBadValue {
			t.Errorf("cd[value]=%s: got %v, want ErrBadValue", v, err)
		}
		ReleaseHit(h)
	}
}

// TestValueFormat checks the one format cd[value] has: in the query, and in
// a JSON body as a string and, where JSON allows the text, as a number.
func TestValueFormat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want float64
	}{
		{"19.90", true, 19.9},
		{"5", true, 5},
		{"0", true, 0},
		{"0.5", true, 0.5},
		{"-5", true, -5}, // a refund
		{"-19.90", true, -19.9},
		{"-0", true, 0},
		{"007.50", true, 7.5},
		{"0.000001", true, 0.000001},
		{"1000000000000000", true, 1e15},
		{"-1000000000000000", true, -1e15},
		{"999999999999999.99", true, 999999999999999.99},
		{"1000000000000001", false, 0}, // beyond event.MaxAbsValue
		{"1e3", false, 0},
		{"1E3", false, 0},
		{"1e+2", false, 0},
		{"-1.5e2", false, 0},
		{"1.5e-2", false, 0},
		{"0x1p4", false, 0},
		{"0X10", false, 0},
		{"0b101", false, 0},
		{"0o17", false, 0},
		{"1_000", false, 0},
		{"1_000.5", false, 0},
		{"+5", false, 0},
		{"--5", false, 0},
		{"-", false, 0},
		{".5", false, 0},
		{"-.5", false, 0},
		{"5.", false, 0},
		{"1.2.3", false, 0},
		{"12,50", false, 0},
		{" 5", false, 0},
		{"5 ", false, 0},
		{"$5", false, 0},
		{"5€", false, 0},
		{"٥", false, 0}, // a digit, but not an ASCII one
		{"inf", false, 0},
		{"-Inf", false, 0},
		{"+Infinity", false, 0},
		{"NaN", false, 0},
		{"nan", false, 0},
		{"free", false, 0},
	} {
		t.Run(tc.in, func(t *testing.T) {
			check := func(where string, f fields, err error) {
				t.Helper()
				switch {
				case !tc.ok && err != ErrBadValue:
					t.Errorf("%s: %v, want ErrBadValue", where, err)
				case tc.ok && err != nil:
					t.Errorf("%s: %v, want value %v", where, err, tc.want)
				case tc.ok && f.value != tc.want:
					t.Errorf("%s: value %v, want %v", where, f.value, tc.want)
				}
			}
			f, err := parseQuery(t, "id=px1&cd[value]="+url.QueryEscape(tc.in))
			check("query", f, err)
			f, err = parseOne(t, `{"id":"px1","cd":{"value":"`+tc.in+`"}}`)
			check("JSON string", f, err)
			// As a number, white space around it is JSON's, not the value's.
			if json.Valid([]byte(tc.in)) && tc.in == strings.TrimSpace(tc.in) && (tc.in[0] == '-' || tc.in[0] >= '0' && tc.in[0] <= '9') {
				f, err = parseOne(t, `{"id":"px1","cd":{"value":`+tc.in+`}}`)
				check("JSON number", f, err)
			}
		})
	}
}

// TestParseRawQueryDecoding checks how parameters are split and decoded,
// fasthttp.Args' way (parseQuery compares the two parsers on each).
func TestParseRawQueryDecoding(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  fields
	}{
		{"%69d=px1", fields{pixelID: "px1"}},
		{"id=px1&dl=a+b%20c", fields{pixelID: "px1", url: "a b c"}},
		{"id=px1&dl=%zz%4", fields{pixelID: "px1", url: "%zz%4"}},
		{"id=px1&dl=%", fields{pixelID: "px1", url: "%"}},
		{"id=px1&dl=%%41", fields{pixelID: "px1", url: "%A"}},
		{"id=px1&dl=%e2%82%AC", fields{pixelID: "px1", url: "€"}},
		{"id=px1&dl=a=b=c", fields{pixelID: "px1", url: "a=b=c"}},
		{"&&id=px1&&dl=x&", fields{pixelID: "px1", url: "x"}},
		{"id=px1&dl", fields{pixelID: "px1"}},
		{"id=px1&=x&dl=%26", fields{pixelID: "px1", url: "&"}},
		{"id=px1&cd+%5Bk%5D=v", fields{pixelID: "px1"}},
		{"id=px1&cd[a]=x%26y&cd%5Bb%5D=%3D", fields{pixelID: "px1", props: `{"a":"x&y","b":"="}`}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			got, err := parseQuery(t, tc.query)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.name = "PageView"
			if !got.equal(tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
