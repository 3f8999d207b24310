package serverapi

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/event"
)

var testNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

const (
	visitor   = "Zm9vYmFyYmF6cXV4cXV1eA"
	browserUA = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// read parses body and returns each event as the wire format's JSON (the
// published form) or its refusal.
func read(t *testing.T, body string) ([]*event.Event, []error) {
	t.Helper()
	var b Body
	lim := DefaultLimits()
	if err := b.Reset([]byte(body), &lim); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	var events []*event.Event
	var errs []error
	for b.More() {
		var e event.Event
		err := b.Next(&e, []byte("px1"), testNow)
		errs = append(errs, err)
		if err != nil {
			events = append(events, nil)
			continue
		}
		// Through the wire format, as the consumer reads it: a copy that
		// owns its memory.
		var back event.Event
		if perr := event.Parse(event.AppendJSON(nil, &e), &back); perr != nil {
			t.Fatalf("the event does not survive the wire format: %v", perr)
		}
		events = append(events, &back)
	}
	return events, errs
}

func one(t *testing.T, body string) *event.Event {
	t.Helper()
	events, errs := read(t, body)
	if len(events) != 1 || errs[0] != nil {
		t.Fatalf("want one accepted event, got %d: %v", len(events), errs)
	}
	return events[0]
}

func TestOurShape(t *testing.T) {
	body := `{"events":[{"event":"Purchase","event_id":"order-1001","visitor_id":"` + visitor + `","session_id":"c2Vzc2lvbmlkZW50aWZpZQ",
		"ts":1796122800,"url":"https://shop.example/thanks","referrer":"https://www.google.com/","ip":"198.51.100.4",
		"user_agent":"` + browserUA + `","action_source":"website","value":129.99,"currency":"eur","order_id":1001,
		"content_ids":["sku-1",2],"external_id":"u-42","page_view_id":"pv1","utm_source":"news","utm_campaign":"winter",
		"gclid":"Cj0","email":" Jane.Doe@GMAIL.com ","phone":"+33 6 12 34 56 78","consent":"granted","ad_storage":"denied",
		"props":{"coupon":"WINTER","first":true,"n":3,"none":null}}]}`
	e := one(t, body)
	for _, f := range []struct{ name, got, want string }{
		{"event", string(e.Name), "Purchase"},
		{"event_id", string(e.EventID), "order-1001"},
		{"pixel_id", string(e.PixelID), "px1"},
		{"visitor_id", string(e.VisitorID), visitor},
		{"session_id", string(e.SessionID), "c2Vzc2lvbmlkZW50aWZpZQ"},
		{"url", string(e.URL), "https://shop.example/thanks"},
		{"referrer_host", string(e.Tracking[event.ReferrerHost]), "www.google.com"},
		{"ip", string(e.IP), "198.51.100.4"},
		{"user_agent", string(e.UserAgent), browserUA},
		{"currency", string(e.Currency), "EUR"},
		{"order_id", string(e.OrderID), "1001"},
		{"external_id", string(e.Tracking[event.ExternalID]), "u-42"},
		{"page_view_id", string(e.Tracking[event.PageViewID]), "pv1"},
		{"utm_source", string(e.Tracking[event.UTMSource]), "news"},
		{"utm_campaign", string(e.Tracking[event.UTMCampaign]), "winter"},
		{"gclid", string(e.Tracking[event.GCLID]), "Cj0"},
		{"action_source", string(e.Tracking[event.ActionSource]), "website"},
		{"channel", string(e.Tracking[event.Channel]), "server"},
		{"consent", string(e.Tracking[event.Consent]), "granted"},
		{"ad_storage", string(e.Tracking[event.AdStorage]), "denied"},
		{"email_sha256", string(e.Tracking[event.EmailSHA256]), sha("jane.doe@gmail.com")},
		{"email_google_sha256", string(e.Tracking[event.EmailGoogleSHA256]), sha("janedoe@gmail.com")},
		{"phone_sha256", string(e.Tracking[event.PhoneSHA256]), sha("33612345678")},
		{"phone_google_sha256", string(e.Tracking[event.PhoneGoogleSHA256]), sha("+33612345678")},
		{"props", string(e.Props), `{"coupon":"WINTER","first":"true","n":"3"}`},
		{"content_ids", strings.Join(strs(e.ContentIDs), ","), "sku-1,2"},
	} {
		if f.got != f.want {
			t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
		}
	}
	if e.Value != 129.99 || e.TS != 1796122800 || e.TSMs != 1796122800000 || e.ReceivedAt != testNow.Unix() {
		t.Errorf("value %v ts %d ts_ms %d received_at %d", e.Value, e.TS, e.TSMs, e.ReceivedAt)
	}
}

// Raw identifiers never reach the published event.
func TestRawIdentifiersNotPublished(t *testing.T) {
	for _, body := range []string{
		`{"events":[{"event":"Lead","email":"Secret.Person@Example.com","phone":"+1 650 555 0199"}]}`,
		`{"events":[{"event":"Lead","email_sha256":"Secret.Person@Example.com","phone_sha256":"+1 650 555 0199"}]}`,
		`{"data":[{"event_name":"Lead","user_data":{"em":["Secret.Person@Example.com"],"ph":"+1 650 555 0199","fn":"secret","ln":"person"}}]}`,
	} {
		var b Body
		lim := DefaultLimits()
		if err := b.Reset([]byte(body), &lim); err != nil {
			t.Fatal(err)
		}
		var e event.Event
		if err := b.Next(&e, []byte("px1"), testNow); err != nil {
			t.Fatal(err)
		}
		out := strings.ToLower(string(event.AppendJSON(nil, &e)))
		// Whole pieces of the raw values: a short run of digits turns up
		// in random hex (event ids, hashes) by chance.
		for _, raw := range []string{"secret", "person", "650 555 0199", "6505550199"} {
			if strings.Contains(out, raw) {
				t.Errorf("%s: published %q contains %q", body, out, raw)
			}
		}
		if string(e.Tracking[event.EmailSHA256]) != sha("secret.person@example.com") || string(e.Tracking[event.PhoneSHA256]) != sha("16505550199") {
			t.Errorf("%s: hashes %s %s", body, e.Tracking[event.EmailSHA256], e.Tracking[event.PhoneSHA256])
		}
	}
}

func TestMetaShape(t *testing.T) {
	emHash := sha("jane.doe@gmail.com")
	body := `{"data":[{"event_name":"Purchase","event_time":1796122800,"event_id":"order-1001",
		"event_source_url":"https://shop.example/thanks","action_source":"website","opt_out":false,
		"data_processing_options":["LDU"],
		"user_data":{"em":["` + strings.ToUpper(emHash) + `","` + sha("other") + `"],"ph":["+1 (650) 555-1212"],
		 "external_id":["u-42"],"client_ip_address":"2001:db8::1","client_user_agent":"` + browserUA + `",
		 "fbc":"fb.1.1796122000123.IwAR2xyz","fbp":"fb.1.1796122000000.123456","fn":"` + sha("jane") + `","visitor_id":"` + visitor + `"},
		"custom_data":{"value":"49.50","currency":"USD","content_ids":["sku-1"],"order_id":"1001",
		 "contents":[{"id":"sku-1","quantity":1}],"content_type":"product","num_items":1}}],
		"test_event_code":"TEST123","partner_agent":"shopify"}`
	e := one(t, body)
	for _, f := range []struct{ name, got, want string }{
		{"event", string(e.Name), "Purchase"},
		{"event_id", string(e.EventID), "order-1001"},
		{"visitor_id", string(e.VisitorID), visitor},
		{"url", string(e.URL), "https://shop.example/thanks"},
		{"ip", string(e.IP), "2001:db8::1"},
		{"user_agent", string(e.UserAgent), browserUA},
		{"external_id", string(e.Tracking[event.ExternalID]), "u-42"},
		{"currency", string(e.Currency), "USD"},
		{"order_id", string(e.OrderID), "1001"},
		{"fbclid", string(e.Tracking[event.FBCLID]), "IwAR2xyz"},
		{"email_sha256", string(e.Tracking[event.EmailSHA256]), emHash},
		{"email_google_sha256", string(e.Tracking[event.EmailGoogleSHA256]), ""}, // not derivable from Meta's hash
		{"phone_sha256", string(e.Tracking[event.PhoneSHA256]), sha("16505551212")},
		{"phone_google_sha256", string(e.Tracking[event.PhoneGoogleSHA256]), sha("+16505551212")},
		{"channel", string(e.Tracking[event.Channel]), "server"},
		{"props", string(e.Props), `{"test_event_code":"TEST123","content_type":"product","num_items":"1"}`},
	} {
		if f.got != f.want {
			t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
		}
	}
	if e.Value != 49.5 || e.TS != 1796122800 || e.ClickTSMs != 1796122000123 {
		t.Errorf("value %v ts %d click_ts_ms %d", e.Value, e.TS, e.ClickTSMs)
	}
}

func TestDefaults(t *testing.T) {
	e := one(t, `{"events":[{"event":"Lead"}]}`)
	if e.TS != testNow.Unix() || e.TSMs != testNow.UnixMilli() {
		t.Errorf("ts %d ts_ms %d, want the receive time", e.TS, e.TSMs)
	}
	if len(e.VisitorID) != 22 || len(e.EventID) != 36 || len(e.SessionID) != 0 {
		t.Errorf("visitor %q event id %q session %q", e.VisitorID, e.EventID, e.SessionID)
	}
	if string(e.Tracking[event.ActionSource]) != "other" || string(e.Tracking[event.Consent]) != "granted" {
		t.Errorf("action_source %q consent %q", e.Tracking[event.ActionSource], e.Tracking[event.Consent])
	}
	e = one(t, `{"events":[{"event":"Lead","url":"https://shop.example/"}]}`)
	if string(e.Tracking[event.ActionSource]) != "website" {
		t.Errorf("with a url: action_source %q", e.Tracking[event.ActionSource])
	}
	// Two events of a request without visitor ids are two visitors.
	events, _ := read(t, `{"events":[{"event":"A"},{"event":"B"}]}`)
	if string(events[0].VisitorID) == string(events[1].VisitorID) {
		t.Error("two events without visitor_id share an id")
	}
}

func TestTimes(t *testing.T) {
	sec := testNow.Unix()
	for _, tc := range []struct {
		ts   string
		ms   int64
		want *Error
	}{
		{itoa(sec - 3600), (sec - 3600) * 1000, nil},
		{itoa(sec-3600) + ".25", (sec-3600)*1000 + 250, nil},
		{itoa((sec - 60) * 1000), (sec - 60) * 1000, nil},
		{`"2026-12-01T11:30:00.5Z"`, testNow.Add(-30*time.Minute).UnixMilli() + 500, nil},
		{`"2026-12-01T12:30:00+01:00"`, testNow.Add(-30 * time.Minute).UnixMilli(), nil},
		{itoa(sec - 7*24*3600 + 1), (sec - 7*24*3600 + 1) * 1000, nil},
		{itoa(sec - 7*24*3600 - 1), 0, ErrTooOld},
		{itoa(sec + 3601), 0, ErrInFuture},
		{itoa(sec + 3500), (sec + 3500) * 1000, nil},
		{"0", 0, ErrBadTime},
		{"-5", 0, ErrBadTime},
		{"1e400", 0, ErrBadTime},
		{`"yesterday"`, 0, ErrBadTime},
		{"true", 0, ErrBadTime},
	} {
		events, errs := read(t, `{"events":[{"event":"A","ts":`+tc.ts+`}]}`)
		if errs[0] != errOrNil(tc.want) {
			t.Errorf("ts %s: %v, want %v", tc.ts, errs[0], tc.want)
			continue
		}
		if tc.want == nil && events[0].TSMs != tc.ms {
			t.Errorf("ts %s: ts_ms %d, want %d", tc.ts, events[0].TSMs, tc.ms)
		}
	}
}

func TestRefusedEvents(t *testing.T) {
	long := strings.Repeat("a", 5000)
	for _, tc := range []struct {
		event  string
		reason string
	}{
		{`{}`, "missing_event"},
		{`{"event":""}`, "bad_event"},
		{`{"event":"Add To Cart"}`, "bad_event"},
		{`{"event":1}`, "bad_type"},
		{`"Purchase"`, "bad_type"},
		{`[]`, "bad_type"},
		{`{"event":"A","event_id":"has space"}`, "bad_event_id"},
		{`{"event":"A","event_id":"` + long + `"}`, "bad_event_id"},
		{`{"event":"A","visitor_id":"a b"}`, "bad_visitor_id"},
		{`{"event":"A","action_source":"web"}`, "bad_action_source"},
		{`{"event":"A","value":"12,50"}`, "bad_value"},
		{`{"event":"A","value":1e16}`, "bad_value"},
		{`{"event":"A","value":1e999}`, "bad_value"},
		{`{"event":"A","value":true}`, "bad_type"},
		{`{"event":"A","currency":"EURO"}`, "bad_currency"},
		{`{"event":"A","currency":"E1R"}`, "bad_currency"},
		{`{"event":"A","ip":"999.1.1.1"}`, "bad_ip"},
		{`{"event":"A","ip":"fe80::1%eth0"}`, "bad_ip"},
		{`{"event":"A","email_google_sha256":"jane@example.com"}`, "bad_hash"},
		{`{"event":"A","consent":"yes"}`, "bad_consent"},
		{`{"event":"A","ad_user_data":"GRANTED"}`, "bad_consent"},
		{`{"event":"A","content_ids":"sku-1"}`, "bad_type"},
		{`{"event":"A","content_ids":[{"id":1}]}`, "bad_content_ids"},
		{`{"event":"A","content_ids":["` + long + `"]}`, "bad_content_ids"},
		{`{"event":"A","props":{"bad key":"x"}}`, "bad_prop"},
		{`{"event":"A","props":{"k":{"nested":1}}}`, "bad_prop"},
		{`{"event":"A","props":[1]}`, "bad_type"},
		{`{"event":"A","props":{"k":"` + long + `"}}`, "too_long"},
		{`{"event":"A","url":"https://x.example/` + long + `"}`, "too_long"},
		{`{"event":"A","utm_source":"` + long + `"}`, "too_long"},
		{`{"event":"A","order_id":"` + long + `"}`, "too_long"},
		{`{"event":"A","valeu":12}`, "unknown_field"},
		{`{"event":"A","pixel_id":"other"}`, "unknown_field"},
	} {
		_, errs := read(t, `{"events":[`+tc.event+`]}`)
		err, _ := errs[0].(*Error)
		if err == nil || err.Reason != tc.reason {
			t.Errorf("%.80s: %v, want %s", tc.event, errs[0], tc.reason)
		}
	}
	var props []string
	for i := range 40 {
		props = append(props, `"k`+itoa(int64(i))+`":1`)
	}
	_, errs := read(t, `{"events":[{"event":"A","props":{`+strings.Join(props, ",")+`}}]}`)
	if errs[0] != ErrTooManyProps {
		t.Errorf("40 props: %v", errs[0])
	}
}

// The events of a body are judged one by one: a refused one does not
// stop the others, and the refused one's event_id is known.
func TestMixedBatch(t *testing.T) {
	var b Body
	lim := DefaultLimits()
	body := `{"events":[{"event":"A","event_id":"e1"},{"event_id":"e2","value":"x","event":"B"},{"event":"C","event_id":"e3"}]}`
	if err := b.Reset([]byte(body), &lim); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 3 {
		t.Fatalf("Len %d", b.Len())
	}
	var got []string
	for b.More() {
		var e event.Event
		err := b.Next(&e, []byte("px1"), testNow)
		got = append(got, string(b.EventID())+":"+reasonOf(err))
	}
	if want := "e1:ok e2:bad_value e3:ok"; strings.Join(got, " ") != want {
		t.Fatalf("got %v, want %s", got, want)
	}
}

func TestBadBodies(t *testing.T) {
	many := `{"events":[` + strings.TrimSuffix(strings.Repeat(`{"event":"A"},`, 1001), ",") + `]}`
	for _, tc := range []struct {
		body   string
		reason string
	}{
		{``, "bad_body"},
		{`[]`, "bad_body"},
		{`{"events":[{"event":"A"}]`, "bad_body"},
		{`{"events":[{"event":"A"}]} x`, "bad_body"},
		{`{"events":[{"event":"A",}]}`, "bad_body"},
		{`{"events":{}}`, "no_events"},
		{`{"events":[]}`, "no_events"},
		{`{}`, "no_events"},
		{`{"data":[{"event_name":"A"}],"events":[{"event":"A"}]}`, "bad_body"},
		{`{"events":[{"event":"A"}],"extra":1}`, "bad_body"},
		{`{"events":[{"event":"A"}],"test_event_code":5}`, "bad_body"},
		{many, "too_many_events"},
	} {
		var b Body
		lim := DefaultLimits()
		err, _ := b.Reset([]byte(tc.body), &lim).(*Error)
		if err == nil || err.Reason != tc.reason {
			t.Errorf("%.60s: %v, want %s", tc.body, err, tc.reason)
		}
	}
	// Meta's bodies may carry other top-level keys.
	one(t, `{"partner_agent":"x","data":[{"event_name":"A"}],"namespace_id":"1"}`)
}

// FuzzBody: never a panic; a refusal is a listed reason; an accepted event
// validates and survives the wire format.
func FuzzBody(f *testing.F) {
	for _, s := range []string{
		`{"events":[{"event":"A","email":"a@b.example","props":{"k":"v"},"content_ids":["x"]}]}`,
		`{"data":[{"event_name":"Purchase","event_time":1796122800,"user_data":{"em":["x"],"ph":"1","fbc":"fb.1.2.3"},"custom_data":{"value":1,"x":[1]}}],"test_event_code":"T"}`,
		`{"events":[{"event":"A","ts":"2026-12-01T11:00:00Z","ip":"::ffff:1.2.3.4","value":"-0.5"},{"event":"\u0041"}]}`,
		`{"events":[1,"x",null,{"event":"A","event":"B"}]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var b Body
		lim := DefaultLimits()
		lim.MaxEvents = 50
		if err := b.Reset([]byte(body), &lim); err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Reset: %T %v", err, err)
			}
			return
		}
		for b.More() {
			var e event.Event
			err := b.Next(&e, []byte("px1"), testNow)
			if err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("Next: %T %v", err, err)
				}
				continue
			}
			if err := e.Validate(); err != nil {
				t.Fatalf("accepted an invalid event: %v", err)
			}
			var back event.Event
			if err := event.Parse(event.AppendJSON(nil, &e), &back); err != nil {
				t.Fatalf("accepted event does not survive the wire format: %v", err)
			}
			if string(back.Tracking[event.Channel]) != "server" {
				t.Fatalf("channel %q", back.Tracking[event.Channel])
			}
			for _, col := range hashColumns {
				if h := e.Tracking[col]; len(h) != 0 && len(h) != 64 {
					t.Fatalf("%s = %q", event.TrackingColumns[col], h)
				}
			}
		}
	})
}

func reasonOf(err error) string {
	if err == nil {
		return "ok"
	}
	return err.(*Error).Reason
}

func errOrNil(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}

func strs(b [][]byte) []string {
	var s []string
	for _, x := range b {
		s = append(s, string(x))
	}
	return s
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestBotFlag(t *testing.T) {
	for ua, want := range map[string]bool{"": false, browserUA: false, "Googlebot/2.1 (+http://www.google.com/bot.html)": true} {
		e := one(t, `{"events":[{"event":"A","user_agent":"`+ua+`"}]}`)
		if e.IsBot != want {
			t.Errorf("user agent %q: is_bot %v", ua, e.IsBot)
		}
	}
}
