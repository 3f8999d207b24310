package event

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// columns are the ClickHouse column names of pixel.events that the wire format
// must use as its field names, in the order AppendJSON writes them.
var columns = []string{
	"event_id", "pixel_id", "visitor_id", "session_id", "event", "ts", "received_at",
	"url", "referrer", "value", "currency", "order_id", "content_ids", "ip", "user_agent", "props",
	"ts_ms", "engaged_ms", "click_ts_ms", "gpc", "dnt", "is_bot",
	"page_view_id", "referrer_host", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
	"gclid", "gbraid", "wbraid", "fbclid", "msclkid", "ttclid", "external_id", "action_source", "channel", "consent",
	"ad_storage", "analytics_storage", "ad_user_data", "ad_personalization",
	"email_sha256", "email_google_sha256", "phone_sha256", "phone_google_sha256", "cookieless_id",
}

// fullEvent has every field set.
func fullEvent() *Event {
	return &Event{
		EventID:    []byte("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
		PixelID:    []byte("px_shop.1"),
		VisitorID:  []byte("Zm9vYmFyYmF6cXV4cXV1eA"),
		SessionID:  []byte("c2Vzc2lvbmlkZW50aWZpZQ"),
		Name:       []byte("Purchase"),
		TS:         1767268799,
		ReceivedAt: 1767268800,
		URL:        []byte("https://shop.example/checkout?step=3&q=\"x\""),
		Referrer:   []byte("https://www.google.com/"),
		Value:      129.99,
		Currency:   []byte("EUR"),
		OrderID:    []byte("ord-42"),
		ContentIDs: [][]byte{[]byte("sku-1"), []byte("sku-2")},
		IP:         []byte("203.0.113.7"),
		UserAgent:  []byte("Mozilla/5.0 (X11; Linux x86_64)"),
		Props:      []byte(`{"plan":"pro"}`),
		TSMs:       1767268799123,
		EngagedMs:  61500,
		ClickTSMs:  1767268000456,
		GPC:        true,
		DNT:        true,
		IsBot:      true,
		Tracking:   fullTracking(),
	}
}

// fullTracking has every optional String column set, to its column name.
func fullTracking() (t [NumTracking][]byte) {
	for i, n := range TrackingColumns {
		t[i] = []byte("v:" + n)
	}
	return t
}

// minimalEvent has only the fields AppendJSON always writes.
func minimalEvent() *Event {
	return &Event{
		EventID:    []byte("e1"),
		PixelID:    []byte("p1"),
		VisitorID:  []byte("v1"),
		Name:       []byte("PageView"),
		TS:         1767268800,
		ReceivedAt: 1767268800,
		URL:        []byte("https://example.com/"),
		IP:         []byte("198.51.100.1"),
		UserAgent:  []byte("curl/8"),
	}
}

func TestAppendJSONFull(t *testing.T) {
	got := string(AppendJSON(nil, fullEvent()))
	want := `{"event_id":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","pixel_id":"px_shop.1",` +
		`"visitor_id":"Zm9vYmFyYmF6cXV4cXV1eA","session_id":"c2Vzc2lvbmlkZW50aWZpZQ","event":"Purchase",` +
		`"ts":1767268799,"received_at":1767268800,"url":"https://shop.example/checkout?step=3&q=\"x\"",` +
		`"referrer":"https://www.google.com/","value":129.99,"currency":"EUR","order_id":"ord-42",` +
		`"content_ids":["sku-1","sku-2"],"ip":"203.0.113.7","user_agent":"Mozilla/5.0 (X11; Linux x86_64)",` +
		`"props":"{\"plan\":\"pro\"}","ts_ms":1767268799123,"engaged_ms":61500,"click_ts_ms":1767268000456,` +
		`"gpc":1,"dnt":1,"is_bot":1`
	for _, n := range TrackingColumns {
		want += `,"` + n + `":"v:` + n + `"`
	}
	want += "}"
	if got != want {
		t.Fatalf("AppendJSON:\n got %s\nwant %s", got, want)
	}
}

// TestAppendJSONFieldNames checks the contract that every field name equals a
// ClickHouse column name, and that the fields come in column order.
func TestAppendJSONFieldNames(t *testing.T) {
	if got := fieldNames(t, AppendJSON(nil, fullEvent())); !slices.Equal(got, columns) {
		t.Fatalf("field names of a full event:\n got %q\nwant %q", got, columns)
	}
	want := []string{"event_id", "pixel_id", "visitor_id", "event", "ts", "received_at", "url", "ip", "user_agent"}
	if got := fieldNames(t, AppendJSON(nil, minimalEvent())); !slices.Equal(got, want) {
		t.Fatalf("field names of a minimal event (empty optional fields omitted):\n got %q\nwant %q", got, want)
	}
}

// fieldNames returns the keys of the JSON object data in the order written.
func fieldNames(t *testing.T, data []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%s: want a JSON object, got %v, %v", data, tok, err)
	}
	var names []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		names = append(names, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
	}
	return names
}

func TestAppendJSONOmitsEmptyOptionalFields(t *testing.T) {
	e := minimalEvent()
	e.SessionID = []byte{}
	e.Referrer = []byte{}
	e.Currency = []byte{}
	e.OrderID = []byte{}
	e.ContentIDs = [][]byte{}
	e.Props = []byte{}
	e.Value = math.Copysign(0, -1)
	want := `{"event_id":"e1","pixel_id":"p1","visitor_id":"v1","event":"PageView","ts":1767268800,` +
		`"received_at":1767268800,"url":"https://example.com/","ip":"198.51.100.1","user_agent":"curl/8"}`
	if got := string(AppendJSON(nil, e)); got != want {
		t.Fatalf("AppendJSON:\n got %s\nwant %s", got, want)
	}
	// Required fields are written even when empty: a reader must reject them, not guess.
	if got := string(AppendJSON(nil, &Event{})); got != `{"event_id":"","pixel_id":"","visitor_id":"","event":"","ts":0,"received_at":0,"url":"","ip":"","user_agent":""}` {
		t.Fatalf("AppendJSON of the zero Event: %s", got)
	}
}

func TestAppendJSONAppends(t *testing.T) {
	dst := []byte("prefix:")
	got := AppendJSON(dst, minimalEvent())
	if !bytes.HasPrefix(got, []byte("prefix:{")) {
		t.Fatalf("AppendJSON must append to dst, got %q", got)
	}
}

func TestAppendJSONValue(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{1, `"value":1,`},
		{-2.5, `"value":-2.5,`},
		{0.1, `"value":0.1,`},
		{1e21, `"value":1e+21,`},
		{1e-7, `"value":1e-07,`},
		{math.MaxFloat64, `"value":1.7976931348623157e+308,`},
		{5e-324, `"value":5e-324,`},
	} {
		e := minimalEvent()
		e.Value = tc.v
		out := AppendJSON(nil, e)
		if !bytes.Contains(out, []byte(tc.want)) {
			t.Errorf("value %v: %s does not contain %s", tc.v, out, tc.want)
		}
		var got struct{ Value float64 }
		if err := json.Unmarshal(out, &got); err != nil || got.Value != tc.v {
			t.Errorf("value %v: encoding/json reads %v, %v", tc.v, got.Value, err)
		}
	}
}

func TestAppendString(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", `""`},
		{"plain", "hello world", `"hello world"`},
		{"quote", `say "hi"`, `"say \"hi\""`},
		{"backslash", `C:\dir`, `"C:\\dir"`},
		{"slash is not escaped", "a/b", `"a/b"`},
		{"newline, return, tab", "a\nb\rc\td", `"a\nb\rc\td"`},
		{"other control characters", "\x00\x01\x08\x0c\x1b\x1f", `"\u0000\u0001\u0008\u000c\u001b\u001f"`},
		{"DEL is allowed", "\x7f", "\"\x7f\""},
		{"multi-byte UTF-8", "é 世界 😀", `"é 世界 😀"`},
		{"U+2028 and U+2029 are valid JSON", "\u2028\u2029", "\"\u2028\u2029\""},
		{"U+FFFD stays", "\uFFFD", "\"\uFFFD\""},
		{"invalid byte", "a\xffb", `"a\ufffdb"`},
		{"truncated sequence", "a\xe4\xb8", `"a\ufffd\ufffd"`},
		{"truncated at end", "x\xc3", `"x\ufffd"`},
		{"UTF-8-encoded surrogate", "\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`},
		{"overlong encoding", "\xc0\xaf", `"\ufffd\ufffd"`},
		{"continuation byte alone", "\x80ok", `"\ufffdok"`},
		{"mixed", "\"\xff\n", `"\"\ufffd\n"`},
		{"escapes after whole words", "0123456789abcdef\"0123456\x00", `"0123456789abcdef\"0123456\u0000"`},
		{"one per word", "0123456\\0123456é0123456\xff", `"0123456\\0123456é0123456\ufffd"`},
		{"several in one word", "a\"b\\c\td\x01", `"a\"b\\c\td\u0001"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := AppendString([]byte("x"), []byte(tc.in))
			if string(got) != "x"+tc.want {
				t.Fatalf("AppendString(%q) = %s, want %s", tc.in, got[1:], tc.want)
			}
			checkStringJSON(t, tc.in, got[1:])
		})
	}
}

// checkStringJSON checks with encoding/json that quoted is a valid JSON string
// that decodes to in, each invalid UTF-8 byte replaced by U+FFFD.
func checkStringJSON(t *testing.T, in string, quoted []byte) {
	t.Helper()
	if !json.Valid(quoted) {
		t.Fatalf("AppendString(%q) = %s: not valid JSON", in, quoted)
	}
	var got string
	if err := json.Unmarshal(quoted, &got); err != nil {
		t.Fatalf("AppendString(%q) = %s: %v", in, quoted, err)
	}
	if want := string([]rune(in)); got != want {
		t.Fatalf("AppendString(%q) decodes to %q, want %q", in, got, want)
	}
}

// jsonEvent is the wire format as encoding/json sees it.
type jsonEvent struct {
	EventID    string   `json:"event_id"`
	PixelID    string   `json:"pixel_id"`
	VisitorID  string   `json:"visitor_id"`
	SessionID  string   `json:"session_id"`
	Name       string   `json:"event"`
	TS         int64    `json:"ts"`
	ReceivedAt int64    `json:"received_at"`
	URL        string   `json:"url"`
	Referrer   string   `json:"referrer"`
	Value      float64  `json:"value"`
	Currency   string   `json:"currency"`
	OrderID    string   `json:"order_id"`
	ContentIDs []string `json:"content_ids"`
	IP         string   `json:"ip"`
	UserAgent  string   `json:"user_agent"`
	Props      string   `json:"props"`
	TSMs       int64    `json:"ts_ms"`
	EngagedMs  int64    `json:"engaged_ms"`
	ClickTSMs  int64    `json:"click_ts_ms"`
	GPC        int      `json:"gpc"`
	DNT        int      `json:"dnt"`
	IsBot      int      `json:"is_bot"`

	PageViewID        string `json:"page_view_id"`
	ReferrerHost      string `json:"referrer_host"`
	UTMSource         string `json:"utm_source"`
	UTMMedium         string `json:"utm_medium"`
	UTMCampaign       string `json:"utm_campaign"`
	UTMTerm           string `json:"utm_term"`
	UTMContent        string `json:"utm_content"`
	GCLID             string `json:"gclid"`
	GBRAID            string `json:"gbraid"`
	WBRAID            string `json:"wbraid"`
	FBCLID            string `json:"fbclid"`
	MSCLKID           string `json:"msclkid"`
	TTCLID            string `json:"ttclid"`
	ExternalID        string `json:"external_id"`
	ActionSource      string `json:"action_source"`
	Channel           string `json:"channel"`
	Consent           string `json:"consent"`
	AdStorage         string `json:"ad_storage"`
	AnalyticsStorage  string `json:"analytics_storage"`
	AdUserData        string `json:"ad_user_data"`
	AdPersonalization string `json:"ad_personalization"`
	EmailSHA256       string `json:"email_sha256"`
	EmailGoogleSHA256 string `json:"email_google_sha256"`
	PhoneSHA256       string `json:"phone_sha256"`
	PhoneGoogleSHA256 string `json:"phone_google_sha256"`
	CookielessID      string `json:"cookieless_id"`
}

func toJSONEvent(e *Event) jsonEvent {
	var ids []string
	for _, id := range e.ContentIDs {
		ids = append(ids, string(id))
	}
	return jsonEvent{
		EventID: string(e.EventID), PixelID: string(e.PixelID), VisitorID: string(e.VisitorID),
		SessionID: string(e.SessionID), Name: string(e.Name), TS: e.TS, ReceivedAt: e.ReceivedAt,
		URL: string(e.URL), Referrer: string(e.Referrer), Value: e.Value, Currency: string(e.Currency),
		OrderID: string(e.OrderID), ContentIDs: ids, IP: string(e.IP), UserAgent: string(e.UserAgent),
		Props: string(e.Props), TSMs: e.TSMs, EngagedMs: e.EngagedMs, ClickTSMs: e.ClickTSMs,
		GPC: b2i(e.GPC), DNT: b2i(e.DNT), IsBot: b2i(e.IsBot),
		PageViewID: string(e.Tracking[PageViewID]), ReferrerHost: string(e.Tracking[ReferrerHost]),
		UTMSource: string(e.Tracking[UTMSource]), UTMMedium: string(e.Tracking[UTMMedium]), UTMCampaign: string(e.Tracking[UTMCampaign]),
		UTMTerm: string(e.Tracking[UTMTerm]), UTMContent: string(e.Tracking[UTMContent]),
		GCLID: string(e.Tracking[GCLID]), GBRAID: string(e.Tracking[GBRAID]), WBRAID: string(e.Tracking[WBRAID]),
		FBCLID: string(e.Tracking[FBCLID]), MSCLKID: string(e.Tracking[MSCLKID]), TTCLID: string(e.Tracking[TTCLID]),
		ExternalID: string(e.Tracking[ExternalID]), ActionSource: string(e.Tracking[ActionSource]),
		Channel: string(e.Tracking[Channel]), Consent: string(e.Tracking[Consent]),
		AdStorage: string(e.Tracking[AdStorage]), AnalyticsStorage: string(e.Tracking[AnalyticsStorage]),
		AdUserData: string(e.Tracking[AdUserData]), AdPersonalization: string(e.Tracking[AdPersonalization]),
		EmailSHA256: string(e.Tracking[EmailSHA256]), EmailGoogleSHA256: string(e.Tracking[EmailGoogleSHA256]),
		PhoneSHA256: string(e.Tracking[PhoneSHA256]), PhoneGoogleSHA256: string(e.Tracking[PhoneGoogleSHA256]),
		CookielessID: string(e.Tracking[CookielessID]),
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestAppendJSONEncodingJSON checks AppendJSON against encoding/json: the output
// is valid JSON, has no field encoding/json would not expect, and decodes to
// the same values.
func TestAppendJSONEncodingJSON(t *testing.T) {
	hostile := fullEvent()
	hostile.URL = []byte("https://x.example/?q=\"</script>\"&\\\x00\x1f\u2028")
	hostile.UserAgent = []byte("bad \xff\xfe UTF-8")
	hostile.Props = []byte(`{"k":"v\"w","n":"\n"}`)
	hostile.ContentIDs = [][]byte{[]byte("a,b"), []byte(`"quoted"`), {}}
	for name, e := range map[string]*Event{"full": fullEvent(), "minimal": minimalEvent(), "hostile": hostile} {
		t.Run(name, func(t *testing.T) {
			out := AppendJSON(nil, e)
			if !json.Valid(out) {
				t.Fatalf("not valid JSON: %s", out)
			}
			var got jsonEvent
			dec := json.NewDecoder(bytes.NewReader(out))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("encoding/json cannot decode %s: %v", out, err)
			}
			want := toJSONEvent(e)
			want.UserAgent = string([]rune(want.UserAgent)) // invalid UTF-8 → U+FFFD
			if !jsonEventsEqual(got, want) {
				t.Fatalf("encoding/json decodes\n %+v\nwant\n %+v", got, want)
			}
		})
	}
}

func jsonEventsEqual(a, b jsonEvent) bool {
	return slices.Equal(a.ContentIDs, b.ContentIDs) &&
		a.EventID == b.EventID && a.PixelID == b.PixelID && a.VisitorID == b.VisitorID &&
		a.SessionID == b.SessionID && a.Name == b.Name && a.TS == b.TS && a.ReceivedAt == b.ReceivedAt &&
		a.URL == b.URL && a.Referrer == b.Referrer && a.Value == b.Value && a.Currency == b.Currency &&
		a.OrderID == b.OrderID && a.IP == b.IP && a.UserAgent == b.UserAgent && a.Props == b.Props
}

// TestAppendValue checks appendValue against strconv over the prices it
// formats itself (every cent up to 1 000, and samples up to a million),
// their neighbours one float64 away, and the values it hands to strconv.
func TestAppendValue(t *testing.T) {
	check := func(v float64) {
		t.Helper()
		if got, want := string(appendValue(nil, v)), strconv.FormatFloat(v, 'g', -1, 64); got != want {
			t.Fatalf("appendValue(%v) = %s, want %s", v, got, want)
		}
	}
	for c := int64(-100_000); c <= 100_000; c++ {
		v := float64(c) / 100
		check(v)
		check(math.Nextafter(v, math.Inf(1)))
		check(math.Nextafter(v, math.Inf(-1)))
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 200_000 {
		v := float64(r.Int64N(200_000_000)-100_000_000) / 100
		check(v)
		check(math.Nextafter(v, 0))
	}
	for _, v := range []float64{0.001, 0.005, 0.0099, 999999.99, 999999.995, 1e6, 1234567.5, 1e15, -1e15, 1e-7, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		check(v)
		check(-v)
	}
}

// FuzzAppendValue is TestAppendValue for any float64.
func FuzzAppendValue(f *testing.F) {
	for _, v := range []float64{19.9, 129.99, 0.01, 999999.99, 1e6, -5} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		if got, want := string(appendValue(nil, v)), strconv.FormatFloat(v, 'g', -1, 64); got != want {
			t.Fatalf("appendValue(%v) = %s, want %s", v, got, want)
		}
	})
}

// TestAppendJSONTimes checks ts and received_at when they are equal (the
// second digits are copied from the first) and when they are not.
func TestAppendJSONTimes(t *testing.T) {
	for _, tc := range []struct{ ts, received int64 }{
		{1767268800, 1767268800}, {1767268799, 1767268800}, {946684800, 4291747199}, {7, 7}, {-5, -5},
	} {
		e := minimalEvent()
		e.TS, e.ReceivedAt = tc.ts, tc.received
		want := `"ts":` + strconv.FormatInt(tc.ts, 10) + `,"received_at":` + strconv.FormatInt(tc.received, 10) + `,`
		if got := string(AppendJSON([]byte("prefix"), e)); !strings.Contains(got, want) {
			t.Errorf("ts %d, received_at %d: %s, want %s in it", tc.ts, tc.received, got, want)
		}
	}
}
