package metacapi

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// now is the clock of the builder tests.
var now = time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)

func sha(s string) string { return string(pixel.AppendSHA256Hex(nil, []byte(s))) }

// purchase is a browser purchase with every field the builder reads.
func purchase(id string) *event.Event {
	e := &event.Event{
		EventID: []byte(id), PixelID: []byte("px1"), VisitorID: []byte("v1"), Name: []byte("Purchase"),
		TS: now.Unix() - 60, TSMs: (now.Unix()-60)*1000 + 123, ReceivedAt: now.Unix() - 60,
		URL: []byte("https://shop.example/checkout?x=1"), Value: 19.9, Currency: []byte("EUR"),
		OrderID: []byte("o-42"), ContentIDs: [][]byte{[]byte("sku1"), []byte("sku2")},
		IP: []byte("203.0.113.7"), UserAgent: []byte("Mozilla/5.0 (X11) Firefox/140.0"),
		ClickTSMs: now.UnixMilli() - 3600_000,
	}
	e.Tracking[event.EmailSHA256] = []byte(sha("jane@example.com"))
	e.Tracking[event.PhoneSHA256] = []byte(sha("33612345678"))
	e.Tracking[event.ExternalID] = []byte("user-7")
	e.Tracking[event.FBCLID] = []byte("IwAR2F4-dbP0l7Mn1IawQQ")
	e.Tracking[event.ActionSource] = []byte("website")
	return e
}

func newBuilder(t testing.TB, o Options) *Builder {
	t.Helper()
	if o.PixelID == "" {
		o.PixelID = "1234567890"
	}
	b, err := NewBuilder(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decode reads one built body.
func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	return m
}

func TestBuildPurchase(t *testing.T) {
	b := newBuilder(t, Options{})
	reqs, skips := b.Build([]*event.Event{purchase("eid-1")}, now)
	if len(skips) != 0 || len(reqs) != 1 {
		t.Fatalf("reqs %d skips %v", len(reqs), skips)
	}
	if want := "https://graph.facebook.com/v25.0/1234567890/events"; reqs[0].URL != want {
		t.Errorf("URL %s, want %s", reqs[0].URL, want)
	}
	want := `{"data":[{"event_name":"Purchase","event_time":` + fmt.Sprint(now.Unix()-60) +
		`,"event_id":"eid-1","action_source":"website","event_source_url":"https://shop.example/checkout?x=1",` +
		`"user_data":{"em":["` + sha("jane@example.com") + `"],"ph":["` + sha("33612345678") + `"],"external_id":["` + sha("user-7") + `"],` +
		`"client_ip_address":"203.0.113.7","client_user_agent":"Mozilla/5.0 (X11) Firefox/140.0",` +
		`"fbc":"fb.1.` + fmt.Sprint(now.UnixMilli()-3600_000) + `.IwAR2F4-dbP0l7Mn1IawQQ"},` +
		`"custom_data":{"value":19.9,"currency":"EUR","content_ids":["sku1","sku2"],"content_type":"product","order_id":"o-42"}}]}`
	if got := string(reqs[0].Body); got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
	if fmt.Sprint(reqs[0].Events) != "[0]" {
		t.Errorf("events %v", reqs[0].Events)
	}
}

func TestBuildOptions(t *testing.T) {
	b := newBuilder(t, Options{BaseURL: "https://gw.example/capi/", Version: "v24.0", PixelID: "99", TestEventCode: "TEST123", LimitedDataUse: true})
	reqs, _ := b.Build([]*event.Event{purchase("a")}, now)
	if want := "https://gw.example/capi/v24.0/99/events"; reqs[0].URL != want {
		t.Errorf("URL %s, want %s", reqs[0].URL, want)
	}
	m := decode(t, reqs[0].Body)
	if m["test_event_code"] != "TEST123" {
		t.Errorf("test_event_code %v", m["test_event_code"])
	}
	ev := m["data"].([]any)[0].(map[string]any)
	if fmt.Sprint(ev["data_processing_options"]) != "[LDU]" || ev["data_processing_options_country"] != json.Number("0") || ev["data_processing_options_state"] != json.Number("0") {
		t.Errorf("LDU fields %v %v %v", ev["data_processing_options"], ev["data_processing_options_country"], ev["data_processing_options_state"])
	}
	// Off, no data_processing_options at all (Meta: LDU not enabled).
	reqs, _ = newBuilder(t, Options{}).Build([]*event.Event{purchase("a")}, now)
	if strings.Contains(string(reqs[0].Body), "data_processing_options") || strings.Contains(string(reqs[0].Body), "test_event_code") {
		t.Errorf("options off, body %s", reqs[0].Body)
	}
}

func TestNewBuilderErrors(t *testing.T) {
	for _, o := range []Options{
		{},
		{PixelID: "1/2"},
		{PixelID: "1", Version: "v1?x"},
		{PixelID: "1", BaseURL: "ftp://x"},
		{PixelID: "1", BaseURL: "https://x/?q=1"},
		{PixelID: "1", BaseURL: "not a url"},
		{PixelID: "1", BatchSize: 1001},
		{PixelID: "1", BatchSize: -1},
	} {
		if _, err := NewBuilder(o); err == nil {
			t.Errorf("NewBuilder(%+v) = nil error", o)
		}
	}
}

// TestBuildSplits: batches of at most the batch size, in order, every
// event in exactly one.
func TestBuildSplits(t *testing.T) {
	for _, tc := range []struct{ batch, events, requests int }{
		{0, 2500, 3}, {0, 1000, 1}, {0, 1001, 2}, {10, 25, 3}, {1, 3, 3}, {0, 0, 0},
	} {
		events := make([]*event.Event, tc.events)
		for i := range events {
			events[i] = purchase(fmt.Sprint("e", i))
		}
		reqs, skips := newBuilder(t, Options{BatchSize: tc.batch}).Build(events, now)
		if len(skips) != 0 || len(reqs) != tc.requests {
			t.Errorf("%+v: %d requests, %d skips", tc, len(reqs), len(skips))
			continue
		}
		limit := tc.batch
		if limit == 0 {
			limit = MaxBatch
		}
		next := 0
		for _, r := range reqs {
			data := decode(t, r.Body)["data"].([]any)
			if len(data) != len(r.Events) || len(data) > limit || len(data) == 0 {
				t.Errorf("%+v: request of %d events (%d indexes)", tc, len(data), len(r.Events))
			}
			for j, ix := range r.Events {
				if ix != next || data[j].(map[string]any)["event_id"] != fmt.Sprint("e", ix) {
					t.Errorf("%+v: index %d, want %d", tc, ix, next)
				}
				next++
			}
		}
		if next != tc.events {
			t.Errorf("%+v: %d events built", tc, next)
		}
	}
}

func TestBuildSkips(t *testing.T) {
	oldest := now.Add(-MaxAge).Unix()
	for _, tc := range []struct {
		name   string
		edit   func(e *event.Event)
		reason string
	}{
		{"fresh", func(e *event.Event) {}, ""},
		{"exactly 7 days", func(e *event.Event) { e.TS, e.TSMs = oldest, 0 }, ""},
		{"7 days and a second", func(e *event.Event) { e.TS, e.TSMs = oldest-1, 0 }, SkipTooOld},
		{"a year old", func(e *event.Event) { e.TS, e.TSMs = now.Unix()-365*86400, 0 }, SkipTooOld},
		{"no name", func(e *event.Event) { e.Name = nil }, SkipNoEventName},
		{"unknown action source", func(e *event.Event) { e.Tracking[event.ActionSource] = []byte("browser") }, SkipActionSource},
		{"default action source", func(e *event.Event) { e.Tracking[event.ActionSource] = nil }, ""},
		{"website without url", func(e *event.Event) { e.URL = nil }, SkipNoURL},
		{"website without user agent", func(e *event.Event) { e.UserAgent = nil }, SkipNoUserAgent},
		{"phone call without url", func(e *event.Event) {
			e.Tracking[event.ActionSource] = []byte("phone_call")
			e.URL, e.UserAgent = nil, nil
		}, ""},
		{"purchase without currency", func(e *event.Event) { e.Currency = nil }, SkipNoCurrency},
		{"lead without currency", func(e *event.Event) { e.Name = []byte("Lead"); e.Currency = nil }, ""},
		{"NaN value", func(e *event.Event) { e.Value = math.NaN() }, SkipBadValue},
		{"infinite value", func(e *event.Event) { e.Value = math.Inf(1) }, SkipBadValue},
	} {
		e := purchase("x")
		tc.edit(e)
		reqs, skips := newBuilder(t, Options{}).Build([]*event.Event{purchase("before"), e, purchase("after")}, now)
		got := ""
		if len(skips) == 1 && skips[0].Index == 1 {
			got = skips[0].Reason
		} else if len(skips) != 0 {
			t.Errorf("%s: skips %v", tc.name, skips)
		}
		if got != tc.reason {
			t.Errorf("%s: reason %q, want %q", tc.name, got, tc.reason)
		}
		built := 0
		for _, r := range reqs {
			built += len(r.Events)
		}
		if want := 3 - len(skips); built != want {
			t.Errorf("%s: %d built, want %d", tc.name, built, want)
		}
	}
}

// TestBuildFields: one event's fields in edge cases.
func TestBuildFields(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(e *event.Event)
		check func(ev map[string]any) string
	}{
		{"future time is sent as now", func(e *event.Event) { e.TS = now.Unix() + 30 }, func(ev map[string]any) string {
			return want(ev["event_time"], json.Number(fmt.Sprint(now.Unix())))
		}},
		{"fbc without click time uses the event's ms", func(e *event.Event) { e.ClickTSMs = 0 }, func(ev map[string]any) string {
			return want(ud(ev)["fbc"], fmt.Sprintf("fb.1.%d.IwAR2F4-dbP0l7Mn1IawQQ", (now.Unix()-60)*1000+123))
		}},
		{"fbc without any ms uses ts", func(e *event.Event) { e.ClickTSMs, e.TSMs = 0, 0 }, func(ev map[string]any) string {
			return want(ud(ev)["fbc"], fmt.Sprintf("fb.1.%d.IwAR2F4-dbP0l7Mn1IawQQ", (now.Unix()-60)*1000))
		}},
		{"no fbclid, no fbc", func(e *event.Event) { e.Tracking[event.FBCLID] = nil }, func(ev map[string]any) string {
			return absent(ud(ev), "fbc")
		}},
		{"never fbp", func(e *event.Event) {}, func(ev map[string]any) string { return absent(ud(ev), "fbp") }},
		{"pre-hashed external id passes in lower case", func(e *event.Event) { e.Tracking[event.ExternalID] = []byte(strings.ToUpper(sha("u"))) }, func(ev map[string]any) string {
			return want(fmt.Sprint(ud(ev)["external_id"]), "["+sha("u")+"]")
		}},
		{"email column that is not a hash is left out", func(e *event.Event) { e.Tracking[event.EmailSHA256] = []byte("jane@example.com") }, func(ev map[string]any) string {
			return absent(ud(ev), "em")
		}},
		{"upper-case phone hash is left out", func(e *event.Event) { e.Tracking[event.PhoneSHA256] = []byte(strings.ToUpper(sha("1"))) }, func(ev map[string]any) string {
			return absent(ud(ev), "ph")
		}},
		{"no identifiers: user_data keeps ip and ua", func(e *event.Event) {
			e.Tracking[event.EmailSHA256], e.Tracking[event.PhoneSHA256], e.Tracking[event.ExternalID], e.Tracking[event.FBCLID] = nil, nil, nil, nil
		}, func(ev map[string]any) string { return want(len(ud(ev)), 2) }},
		{"no ip", func(e *event.Event) { e.IP = nil }, func(ev map[string]any) string { return absent(ud(ev), "client_ip_address") }},
		{"zero value with currency", func(e *event.Event) { e.Value = 0 }, func(ev map[string]any) string {
			return want(cd(ev)["value"], json.Number("0"))
		}},
		{"large value is plain decimal", func(e *event.Event) { e.Value = 1234567.5 }, func(ev map[string]any) string {
			return want(cd(ev)["value"], json.Number("1234567.5"))
		}},
		{"value without currency: no value", func(e *event.Event) { e.Name = []byte("Lead"); e.Currency = nil }, func(ev map[string]any) string {
			return absent(cd(ev), "value")
		}},
		{"no custom data", func(e *event.Event) {
			e.Name, e.Currency, e.ContentIDs, e.OrderID = []byte("PageView"), nil, nil, nil
		}, func(ev map[string]any) string { return absent(ev, "custom_data") }},
		{"no content ids, no content_type", func(e *event.Event) { e.ContentIDs = nil }, func(ev map[string]any) string {
			return absent(cd(ev), "content_type")
		}},
		{"strings are escaped", func(e *event.Event) {
			e.EventID, e.UserAgent, e.URL = []byte("a\"b\\c\n"), []byte("UA \x01 \xff"), []byte("https://x.example/é?q=\"")
		}, func(ev map[string]any) string {
			return want(fmt.Sprint(ev["event_id"], "|", ud(ev)["client_user_agent"]), "a\"b\\c\n|UA \x01 \ufffd")
		}},
		{"app event keeps its action source", func(e *event.Event) { e.Tracking[event.ActionSource] = []byte("app") }, func(ev map[string]any) string {
			return want(ev["action_source"], "app")
		}},
	} {
		e := purchase("x")
		tc.edit(e)
		reqs, skips := newBuilder(t, Options{}).Build([]*event.Event{e}, now)
		if len(reqs) != 1 || len(skips) != 0 {
			t.Errorf("%s: %d requests, skips %v", tc.name, len(reqs), skips)
			continue
		}
		ev := decode(t, reqs[0].Body)["data"].([]any)[0].(map[string]any)
		if msg := tc.check(ev); msg != "" {
			t.Errorf("%s: %s\n%s", tc.name, msg, reqs[0].Body)
		}
	}
}

func ud(ev map[string]any) map[string]any { m, _ := ev["user_data"].(map[string]any); return m }
func cd(ev map[string]any) map[string]any { m, _ := ev["custom_data"].(map[string]any); return m }

func want(got, want any) string {
	if got != want {
		return fmt.Sprintf("got %#v, want %#v", got, want)
	}
	return ""
}

func absent(m map[string]any, k string) string {
	if v, ok := m[k]; ok {
		return fmt.Sprintf("%s = %v, want absent", k, v)
	}
	return ""
}

func TestAppendFBC(t *testing.T) {
	if got := string(AppendFBC(nil, []byte("AbC_1-x"), 1554763741205)); got != "fb.1.1554763741205.AbC_1-x" {
		t.Errorf("AppendFBC = %s", got)
	}
}

// TestExternalIDHashIsPixels: the external id is hashed by pkg/pixel's
// code, byte for byte the raw id (no normalisation of its own).
func TestExternalIDHashIsPixels(t *testing.T) {
	for _, id := range []string{"user-7", " User 7 ", "é", strings.Repeat("a", 64)} {
		got := string(appendExternalIDHash(nil, []byte(id)))
		if want := sha(id); got != want && !pixel.IsSHA256Hex([]byte(id)) {
			t.Errorf("%q: %s, want %s", id, got, want)
		}
	}
}

// BenchmarkBuild1000 builds one full request of 1,000 purchases.
func BenchmarkBuild1000(b *testing.B) {
	events := make([]*event.Event, MaxBatch)
	for i := range events {
		events[i] = purchase(fmt.Sprintf("01a21bf6-d56d-74e3-925c-%012d", i))
	}
	bl := newBuilder(b, Options{})
	b.ReportAllocs()
	var size int
	for b.Loop() {
		reqs, _ := bl.Build(events, now)
		size = len(reqs[0].Body)
	}
	b.ReportMetric(float64(size), "bytes/request")
}

// TestAppendEventAllocs: building an event into a buffer with room
// allocates nothing.
func TestAppendEventAllocs(t *testing.T) {
	b := newBuilder(t, Options{LimitedDataUse: true})
	e := purchase("01a21bf6-d56d-74e3-925c-612785c086ff")
	buf := make([]byte, 0, 4096)
	buf = b.AppendEvent(buf[:0], e, now) // warms the fbc scratch buffer
	if n := testing.AllocsPerRun(100, func() { buf = b.AppendEvent(buf[:0], e, now) }); n != 0 {
		t.Errorf("AppendEvent allocates %v times", n)
	}
}

// A click a few milliseconds before the build, in the same second, keeps
// its milliseconds in fbc: only a click time after now is cut to now.
func TestFBCSameSecondAsNow(t *testing.T) {
	b := newBuilder(t, Options{})
	at := now.Add(500 * time.Millisecond)
	e := purchase("same-second")
	e.ClickTSMs = at.UnixMilli() - 30
	reqs, _ := b.Build([]*event.Event{e}, at)
	var body struct{ Data []map[string]any }
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if got, want := ud(body.Data[0])["fbc"], fmt.Sprintf("fb.1.%d.IwAR2F4-dbP0l7Mn1IawQQ", at.UnixMilli()-30); got != want {
		t.Errorf("fbc %v, want %s", got, want)
	}
	e.ClickTSMs = at.UnixMilli() + 5000 // the forwarder's clock behind the collector's
	reqs, _ = b.Build([]*event.Event{e}, at)
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if got, want := ud(body.Data[0])["fbc"], fmt.Sprintf("fb.1.%d.IwAR2F4-dbP0l7Mn1IawQQ", at.UnixMilli()); got != want {
		t.Errorf("fbc of a click after now: %v, want %s", got, want)
	}
}
