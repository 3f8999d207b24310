package googleads

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

var dest = Destination{CustomerID: "1234567890", ConversionActionID: "987654321", ConversionName: "Purchase (pixel)"}

// sha is the hex SHA-256 of s, as the pixel stores identifiers.
func sha(s string) string { return string(pixel.AppendSHA256Hex(nil, []byte(s))) }

// purchase is an event as the collector stores it: 2026-01-15 10:30:45.250 UTC.
func purchase() *event.Event {
	e := &event.Event{
		EventID: []byte("ev-1"), PixelID: []byte("px"), VisitorID: []byte("v"), Name: []byte("Purchase"),
		TS: 1768473045, TSMs: 1768473045250, ReceivedAt: 1768473046,
		Value: 49.9, Currency: []byte("EUR"), OrderID: []byte("order-1"),
		ClickTSMs: 1768473045250 - 3600_000,
	}
	e.Tracking[event.GCLID] = []byte("Cj0KCQiA-gclid_1")
	e.Tracking[event.EmailGoogleSHA256] = []byte(sha("jane.doe@gmail.com"))
	e.Tracking[event.PhoneGoogleSHA256] = []byte(sha("+4915112345678"))
	e.Tracking[event.AdUserData] = []byte("granted")
	e.Tracking[event.AdPersonalization] = []byte("denied")
	return e
}

func TestNewConversion(t *testing.T) {
	c, err := NewConversion(purchase(), dest, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	want := Conversion{
		EventID: "ev-1", Kind: GCLID, ClickID: "Cj0KCQiA-gclid_1",
		ConversionAction: "customers/1234567890/conversionActions/987654321", ConversionName: "Purchase (pixel)",
		Time: time.Unix(1768473045, 0).UTC(), HasValue: true, Value: 49.9, Currency: "EUR", OrderID: "order-1",
		HashedEmail: sha("jane.doe@gmail.com"), HashedPhone: sha("+4915112345678"),
		AdUserData: ConsentGranted, AdPersonalization: ConsentDenied,
	}
	if c != want {
		t.Fatalf("conversion\n got %+v\nwant %+v", c, want)
	}
}

// One click id per conversion, with the documented combinations.
func TestNewConversionClickIDs(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		gclid, wbraid, gbraid string
		kind                  ClickKind
		id                    string
		identifiers           bool
		err                   error
	}{
		{name: "gclid", gclid: "G1", kind: GCLID, id: "G1", identifiers: true},
		{name: "gclid wins over braids", gclid: "G1", wbraid: "W1", gbraid: "B1", kind: GCLID, id: "G1", identifiers: true},
		{name: "wbraid before gbraid", wbraid: "W1", gbraid: "B1", kind: WBRAID, id: "W1"},
		{name: "wbraid", wbraid: "W1", kind: WBRAID, id: "W1"},
		{name: "gbraid", gbraid: "B1", kind: GBRAID, id: "B1"},
		{name: "none", err: ErrNoClickID},
		{name: "bad gclid", gclid: "=HYPERLINK(x)", err: ErrBadClickID},
		{name: "too long", gclid: strings.Repeat("a", 513), err: ErrBadClickID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := purchase()
			e.Tracking[event.GCLID] = []byte(tc.gclid)
			e.Tracking[event.WBRAID] = []byte(tc.wbraid)
			e.Tracking[event.GBRAID] = []byte(tc.gbraid)
			c, err := NewConversion(e, dest, time.UTC)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if c.Kind != tc.kind || c.ClickID != tc.id {
				t.Fatalf("click id %v %q, want %v %q", c.Kind, c.ClickID, tc.kind, tc.id)
			}
			if got := c.HashedEmail != "" && c.HashedPhone != ""; got != tc.identifiers {
				t.Fatalf("user identifiers %v, want %v (only with a gclid)", got, tc.identifiers)
			}
		})
	}
}

// Google's format with the pixel's zone, its offset on the event's date.
func TestConversionDateTime(t *testing.T) {
	for _, tc := range []struct {
		zone string
		ts   int64
		want string
	}{
		{"UTC", 1768473045, "2026-01-15 10:30:45+00:00"},
		{"Europe/Berlin", 1768473045, "2026-01-15 11:30:45+01:00"},
		{"Europe/Berlin", 1784111445, "2026-07-15 12:30:45+02:00"}, // summer time
		{"America/Los_Angeles", 1768473045, "2026-01-15 02:30:45-08:00"},
		{"Asia/Kolkata", 1768473045, "2026-01-15 16:00:45+05:30"},
		{"Pacific/Chatham", 1768473045, "2026-01-16 00:15:45+13:45"},
		{"America/St_Johns", 1768473045, "2026-01-15 07:00:45-03:30"},
	} {
		loc, err := time.LoadLocation(tc.zone)
		if err != nil {
			t.Fatal(err)
		}
		e := purchase()
		e.TS, e.TSMs, e.ClickTSMs = tc.ts, tc.ts*1000+999, tc.ts*1000-1000
		c, err := NewConversion(e, dest, loc)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.DateTime(); got != tc.want {
			t.Errorf("%s %d: %q, want %q", tc.zone, tc.ts, got, tc.want)
		}
	}
}

func TestNewConversionEdges(t *testing.T) {
	day := int64(24 * 3600 * 1000)
	for _, tc := range []struct {
		name  string
		edit  func(e *event.Event)
		err   error
		check func(t *testing.T, c Conversion)
	}{
		{name: "no zone", err: ErrNoTimeZone},
		{name: "click 90 days before", edit: func(e *event.Event) { e.ClickTSMs = e.TSMs - 90*day }},
		{name: "click over 90 days before", edit: func(e *event.Event) { e.ClickTSMs = e.TSMs - 90*day - 1 }, err: ErrClickExpired},
		{name: "conversion before click", edit: func(e *event.Event) { e.ClickTSMs = e.TSMs + 1000 }, err: ErrBeforeClick},
		{name: "same second as click", edit: func(e *event.Event) { e.ClickTSMs = e.TSMs + 500 }},
		{name: "click time unknown", edit: func(e *event.Event) { e.ClickTSMs = 0 }},
		{name: "upper-case hash is lowered", edit: func(e *event.Event) {
			e.Tracking[event.EmailGoogleSHA256] = []byte(strings.ToUpper(sha("jane.doe@gmail.com")))
		}, check: func(t *testing.T, c Conversion) {
			if c.HashedEmail != sha("jane.doe@gmail.com") {
				t.Fatalf("hashed email %q", c.HashedEmail)
			}
		}},
		{name: "a column that is no hash is not sent", edit: func(e *event.Event) {
			e.Tracking[event.EmailGoogleSHA256] = []byte("jane.doe@gmail.com")
			e.Tracking[event.PhoneGoogleSHA256] = nil
		}, check: func(t *testing.T, c Conversion) {
			if c.HashedEmail != "" || c.HashedPhone != "" {
				t.Fatalf("identifiers %q %q", c.HashedEmail, c.HashedPhone)
			}
		}},
		{name: "Meta's hashes are not Google's", edit: func(e *event.Event) {
			e.Tracking[event.EmailGoogleSHA256], e.Tracking[event.PhoneGoogleSHA256] = nil, nil
			e.Tracking[event.EmailSHA256] = []byte(sha("janedoe@gmail.com"))
			e.Tracking[event.PhoneSHA256] = []byte(sha("4915112345678"))
		}, check: func(t *testing.T, c Conversion) {
			if c.HashedEmail != "" || c.HashedPhone != "" {
				t.Fatalf("identifiers %q %q", c.HashedEmail, c.HashedPhone)
			}
		}},
		{name: "no value, no currency: the action's default value", edit: func(e *event.Event) { e.Value, e.Currency = 0, nil },
			check: func(t *testing.T, c Conversion) {
				if c.HasValue {
					t.Fatal("value set")
				}
			}},
		{name: "zero value in a currency is a value", edit: func(e *event.Event) { e.Value = 0 },
			check: func(t *testing.T, c Conversion) {
				if !c.HasValue || c.Value != 0 || c.Currency != "EUR" {
					t.Fatalf("value %v %v %q", c.HasValue, c.Value, c.Currency)
				}
			}},
		{name: "consent not stated", edit: func(e *event.Event) {
			e.Tracking[event.AdUserData], e.Tracking[event.AdPersonalization] = nil, []byte("maybe")
		}, check: func(t *testing.T, c Conversion) {
			if c.AdUserData != "" || c.AdPersonalization != "" {
				t.Fatalf("consent %q %q", c.AdUserData, c.AdPersonalization)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := purchase()
			loc := time.UTC
			if tc.edit != nil {
				tc.edit(e)
			} else {
				loc = nil
			}
			c, err := NewConversion(e, dest, loc)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err == nil && tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestDestinationValidate(t *testing.T) {
	for _, d := range []Destination{
		{CustomerID: "123-456-7890", ConversionActionID: "1"},
		{CustomerID: "1234567890", ConversionActionID: ""},
		{CustomerID: "", ConversionActionID: "1"},
		{CustomerID: "1234567890", ConversionActionID: "1/../2"},
	} {
		if d.Validate() == nil {
			t.Errorf("%+v: valid", d)
		}
	}
	if err := dest.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewConversion(purchase(), Destination{CustomerID: "1", ConversionActionID: "x"}, time.UTC); err == nil {
		t.Fatal("NewConversion took a bad destination")
	}
}
