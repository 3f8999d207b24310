package serverapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/event"
)

// readSegment parses a Segment body for path type typ ("" a batch) and
// returns each event as its wire-format row (decoded JSON), or its refusal.
func readSegment(t testing.TB, typ, body string) ([]map[string]any, []error) {
	t.Helper()
	var b Body
	lim := DefaultLimits()
	if err := b.ResetSegment([]byte(body), &lim, typ); err != nil {
		t.Fatalf("ResetSegment: %v", err)
	}
	var rows []map[string]any
	var errs []error
	for b.More() {
		var e event.Event
		err := b.Next(&e, []byte("px1"), testNow)
		errs = append(errs, err)
		if err != nil {
			rows = append(rows, nil)
			continue
		}
		wire := event.AppendJSON(nil, &e)
		var back event.Event
		if perr := event.Parse(wire, &back); perr != nil {
			t.Fatalf("the event does not survive the wire format: %v: %s", perr, wire)
		}
		var row map[string]any
		if err := json.Unmarshal(wire, &row); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
	return rows, errs
}

func iso(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func TestSegmentMapping(t *testing.T) {
	at := testNow.Add(-90 * time.Second)
	for _, tc := range []struct {
		name, typ, body string
		want            map[string]any // fields of the row; nil: absent
	}{
		{"track, the e-commerce purchase", "track", `{"event":"Order Completed","messageId":"m-1","anonymousId":"anon-1","userId":"u-42",
			"timestamp":"` + iso(at) + `","properties":{"order_id":"1001","revenue":129.99,"total":140,"value":1,"currency":"eur",
			"products":[{"product_id":"sku-1","price":3,"id":"no"},{"sku":"x"},{"product_id":7},{"id":"v1-id"}],"coupon":"WINTER","Coupon Code":"skipped","nested":{"a":1},"paid":true},
			"context":{"ip":"198.51.100.4","userAgent":"Mozilla/5.0 (X11; Linux x86_64)","page":{"url":"https://shop.example/thanks","referrer":"https://www.google.com/"},
			"campaign":{"name":"spring","source":"news","medium":"email","term":"shoes","content":"hero"},"traits":{"email":" Jane.Doe@GMail.com ","name":"Jane"},"library":{"name":"x"}}}`,
			map[string]any{"event": "Purchase", "event_id": "m-1", "visitor_id": "anon-1", "external_id": "u-42",
				"ts": float64(at.Unix()), "ts_ms": float64(at.UnixMilli()), "received_at": float64(testNow.Unix()),
				"value": 129.99, "currency": "EUR", "order_id": "1001", "content_ids": []any{"sku-1", "7", "v1-id"},
				"props": `{"coupon":"WINTER","paid":"true"}`, "url": "https://shop.example/thanks", "referrer": "https://www.google.com/",
				"referrer_host": "www.google.com", "ip": "198.51.100.4", "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
				"utm_campaign": "spring", "utm_source": "news", "utm_medium": "email", "utm_term": "shoes", "utm_content": "hero",
				"email_sha256": sha("jane.doe@gmail.com"), "email_google_sha256": sha("janedoe@gmail.com"),
				"channel": "server", "consent": "granted", "action_source": "website"}},
		{"track, names mapped", "track", `{"event":"Product Added","anonymousId":"a","properties":{"product_id":"sku-9","total":"12.50","orderId":"o-1","order_id":"o-2"}}`,
			map[string]any{"event": "AddToCart", "order_id": "o-1", "content_ids": []any{"sku-9"}, "value": 12.5, "action_source": "other", "url": ""}},
		{"track, Checkout Started", "track", `{"event":"Checkout Started","anonymousId":"a"}`, map[string]any{"event": "InitiateCheckout"}},
		{"track, Product Viewed", "track", `{"event":"Product Viewed","anonymousId":"a"}`, map[string]any{"event": "ViewContent"}},
		{"track, Signed Up", "track", `{"event":"Signed Up","anonymousId":"a"}`, map[string]any{"event": "CompleteRegistration"}},
		{"track, an unknown name kept", "track", `{"event":"Video Played","anonymousId":"a","properties":{"value":3}}`, map[string]any{"event": "Video Played", "value": 3.0}},
		{"page", "page", `{"anonymousId":"a","name":"Pricing","category":"Docs","properties":{"url":"https://shop.example/pricing?utm_source=ads","referrer":"https://ref.example/"},
			"context":{"page":{"url":"https://ignored.example/"}}}`,
			map[string]any{"event": "PageView", "url": "https://shop.example/pricing?utm_source=ads", "referrer": "https://ref.example/", "props": `{"name":"Pricing","category":"Docs"}`}},
		{"page, from context.page", "page", `{"anonymousId":"a","context":{"page":{"url":"https://shop.example/a","referrer":"https://r.example/"}}}`,
			map[string]any{"event": "PageView", "url": "https://shop.example/a", "referrer": "https://r.example/"}},
		{"identify: traits hashed, raw dropped", "identify", `{"userId":"u-7","traits":{"email":"a@b.example","phone":"+1 (555) 010-0000","address":{"city":"X"},"name":"A"}}`,
			map[string]any{"event": "Identify", "external_id": "u-7", "email_sha256": sha("a@b.example"), "phone_sha256": sha("15550100000"), "phone_google_sha256": sha("+15550100000")}},
		{"identify, a hashed email kept", "identify", `{"anonymousId":"a","traits":{"email":"` + strings.ToUpper(sha("x@y.example")) + `"}}`,
			map[string]any{"email_sha256": sha("x@y.example")}},
		{"the path's type wins", "page", `{"type":"track","event":"Order Completed","anonymousId":"a"}`, map[string]any{"event": "PageView"}},
		{"clock skew corrected with sentAt", "track", `{"event":"E","anonymousId":"a","timestamp":"2020-01-01T00:00:00Z","sentAt":"2020-01-01T00:00:30.5Z"}`,
			map[string]any{"ts_ms": float64(testNow.UnixMilli() - 30500)}},
		{"no timestamp: the receive time", "track", `{"event":"E","anonymousId":"a","sentAt":"2020-01-01T00:00:30Z"}`,
			map[string]any{"ts_ms": float64(testNow.UnixMilli())}},
		{"an offset", "track", `{"event":"E","anonymousId":"a","timestamp":"` + at.In(time.FixedZone("", -5*3600-30*60)).Format("2006-01-02T15:04:05.000-07:00") + `"}`,
			map[string]any{"ts_ms": float64(at.UnixMilli())}},
		{"userId only: a new visitor", "track", `{"event":"E","userId":42}`, map[string]any{"external_id": "42"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, errs := readSegment(t, tc.typ, tc.body)
			if len(rows) != 1 || errs[0] != nil {
				t.Fatalf("want one event, got %v", errs)
			}
			for k, want := range tc.want {
				got, ok := rows[0][k]
				if want == nil {
					if ok {
						t.Errorf("%s = %v, want absent", k, got)
					}
					continue
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s = %v, want %v", k, got, want)
				}
			}
			if v, _ := rows[0]["visitor_id"].(string); v == "" {
				t.Errorf("no visitor_id")
			}
			// The raw phone, as sent and as digits: not a bare "555", which a
			// random event id holds one run in about 150.
			for _, raw := range []string{"jane.doe@", "Jane.Doe@", "a@b.example", "(555) 010-0000", "5550100000", `"Jane"`, "address"} {
				if b, _ := json.Marshal(rows[0]); strings.Contains(string(b), raw) {
					t.Errorf("the row holds %q: %s", raw, b)
				}
			}
		})
	}
}

func TestSegmentBatch(t *testing.T) {
	at := testNow.Add(-time.Hour)
	body := `{"messageId":"batch-1","sentAt":"` + iso(at.Add(10*time.Second)) + `","context":{"ip":"203.0.113.9","userAgent":"batch-ua","campaign":{"source":"batch"}},"batch":[
		{"type":"track","event":"Order Completed","messageId":"m1","anonymousId":"a1","timestamp":"` + iso(at) + `","context":{"ip":"198.51.100.1"}},
		{"type":"page","messageId":"m2","anonymousId":"a1","timestamp":"` + iso(at) + `"},
		{"type":"identify","messageId":"m3","userId":"u1","traits":{"email":"u@x.example"}},
		{"type":"group","messageId":"m4","anonymousId":"a1","groupId":"g"},
		{"messageId":"m5","anonymousId":"a1"},
		{"type":"track","messageId":"m6","anonymousId":"a1"},
		{"type":"track","event":"E","messageId":"m 7","anonymousId":"a1"},
		{"type":"track","event":"E","messageId":"m8","anonymousId":"a1","timestamp":"yesterday"},
		{"type":"track","event":"E","messageId":"m9","anonymousId":"a1","timestamp":"2000-01-01T00:00:00Z"},
		{"type":"track","event":"E\u0001","messageId":"m10","anonymousId":"a1"},
		"not a message"]}`
	rows, errs := readSegment(t, "", body)
	wantErrs := []error{nil, nil, nil, ErrSegmentType, ErrSegmentType, ErrMissingEvent, ErrBadEventID, ErrBadTime, ErrTooOld, ErrSegmentEvent, ErrType}
	if len(errs) != len(wantErrs) {
		t.Fatalf("%d events, want %d", len(errs), len(wantErrs))
	}
	for i, want := range wantErrs {
		if errs[i] != want {
			t.Errorf("message %d: %v, want %v", i, errs[i], want)
		}
	}
	// The batch's sentAt corrects the skew: the message was sent 10 s after it happened.
	if got := rows[0]["ts_ms"]; got != float64(testNow.UnixMilli()-10_000) {
		t.Errorf("ts_ms %v", got)
	}
	// The message's own context wins over the batch's, which fills the rest.
	if rows[0]["ip"] != "198.51.100.1" || rows[0]["user_agent"] != "batch-ua" || rows[0]["utm_source"] != "batch" || rows[1]["ip"] != "203.0.113.9" {
		t.Errorf("contexts: %v / %v", rows[0], rows[1])
	}
	if rows[2]["event"] != "Identify" || rows[2]["email_sha256"] != sha("u@x.example") {
		t.Errorf("identify %v", rows[2])
	}
}

func TestSegmentBodies(t *testing.T) {
	for _, tc := range []struct {
		typ, body string
		want      error
	}{
		{"track", `[]`, ErrSegmentBody},
		{"track", `{"event":"E"} {}`, ErrSegmentBody},
		{"track", `{"event":`, ErrSegmentBody},
		{"", `{"batch":[]}`, ErrSegmentNoBatch},
		{"", `{"batch":{}}`, ErrSegmentNoBatch},
		{"", `{"events":[{}]}`, ErrSegmentNoBatch},
		{"", `{"batch":[{}],"batch":[{}]}`, ErrSegmentNoBatch},
		{"", `{"batch":[{]}`, ErrSegmentBody},
		{"", `{"batch":[` + strings.Repeat(`{},`, 1000) + `{}]}`, ErrTooManyEvents},
	} {
		var b Body
		lim := DefaultLimits()
		if err := b.ResetSegment([]byte(tc.body), &lim, tc.typ); err != tc.want {
			t.Errorf("%q: %v, want %v", tc.body, err, tc.want)
		}
	}
}

func TestParseISOTime(t *testing.T) {
	for in, want := range map[string]int64{
		"2026-12-01T12:00:00Z":            testNow.UnixMilli(),
		"2026-12-01T12:00:00.5Z":          testNow.UnixMilli() + 500,
		"2026-12-01T12:00:00.123456789Z":  testNow.UnixMilli() + 123,
		"2026-12-01T13:30:00+01:30":       testNow.UnixMilli(),
		"2026-12-01T07:00:00.250-0500":    testNow.UnixMilli() + 250,
		"2026-12-01 12:00:00z":            testNow.UnixMilli(),
		"2026-02-31T12:00:00Z":            -1,
		"2026-12-01T12:00:00":             -1,
		"2026-12-01T12:00:00.Z":           -1,
		"2026-12-01T12:00:00+1:00":        -1,
		"2026-12-01T24:00:00Z":            -1,
		"2026-13-01T12:00:00Z":            -1,
		"2026-12-01T12:00:00.1234567890Z": -1,
		"2026-12-01T12:00:00Zjunk":        -1,
		"":                                -1,
		"yesterday at noon, more or less": -1,
	} {
		got, ok := parseISOTime([]byte(in))
		if !ok {
			got = -1
		}
		if got != want {
			t.Errorf("parseISOTime(%q) = %d, want %d", in, got, want)
		}
	}
}

func FuzzSegment(f *testing.F) {
	f.Add("", `{"batch":[{"type":"track","event":"Order Completed","anonymousId":"a","properties":{"revenue":1,"products":[{"product_id":"p"}]},"context":{"page":{"url":"u"},"campaign":{"name":"n"}}}],"context":{"ip":"1.2.3.4"},"sentAt":"2026-12-01T12:00:00Z"}`)
	f.Add("track", `{"event":"E","timestamp":"2026-12-01T11:00:00.5+01:00","traits":{"email":"a@b"}}`)
	f.Add("identify", `{"userId":"u","traits":{"phone":"+1 555"}}`)
	f.Add("page", `{"name":"n","properties":{"url":"https://x/"}}`)
	f.Fuzz(func(t *testing.T, typ, body string) {
		switch typ {
		case "", "track", "page", "identify":
		default:
			typ = "track"
		}
		var b Body
		lim := DefaultLimits()
		if err := b.ResetSegment([]byte(body), &lim, typ); err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("not an *Error: %v", err)
			}
			return
		}
		n := 0
		for b.More() {
			n++
			var e event.Event
			err := b.Next(&e, []byte("px1"), testNow)
			if err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("not an *Error: %v", err)
				}
				continue
			}
			if err := e.Validate(); err != nil {
				t.Fatalf("an accepted event is invalid: %v", err)
			}
			var back event.Event
			if err := event.Parse(event.AppendJSON(nil, &e), &back); err != nil {
				t.Fatalf("an accepted event does not survive the wire format: %v", err)
			}
		}
		if n != b.Len() {
			t.Fatalf("read %d events of %d", n, b.Len())
		}
	})
}
