package googleads

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func mustConversion(t testing.TB) Conversion {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewConversion(purchase(), dest, loc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAppendBody(t *testing.T) {
	c := mustConversion(t)
	body, err := AppendBody(nil, []Conversion{c}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"conversions":[{"gclid":"Cj0KCQiA-gclid_1","conversionAction":"customers/1234567890/conversionActions/987654321",` +
		`"conversionDateTime":"2026-01-15 11:30:45+01:00","conversionValue":49.9,"currencyCode":"EUR","orderId":"order-1",` +
		`"userIdentifiers":[{"hashedEmail":"` + sha("jane.doe@gmail.com") + `"},{"hashedPhoneNumber":"` + sha("+4915112345678") + `"}],` +
		`"consent":{"adUserData":"GRANTED"}}],"partialFailure":true}`
	if string(body) != want {
		t.Fatalf("body\n got %s\nwant %s", body, want)
	}
}

func TestAppendBodyEdges(t *testing.T) {
	base := mustConversion(t)
	for _, tc := range []struct {
		name     string
		edit     func(c *Conversion)
		validate bool
		has, not []string
	}{
		{name: "validate only", validate: true, has: []string{`"partialFailure":true,"validateOnly":true}`}},
		{name: "wbraid: no identifiers", edit: func(c *Conversion) { c.Kind, c.ClickID = WBRAID, "W1" },
			has: []string{`{"wbraid":"W1",`}, not: []string{"userIdentifiers", "gclid"}},
		{name: "gbraid", edit: func(c *Conversion) { c.Kind, c.ClickID = GBRAID, "B1" }, has: []string{`{"gbraid":"B1",`}, not: []string{"userIdentifiers"}},
		{name: "no value", edit: func(c *Conversion) { c.HasValue, c.Currency = false, "" }, not: []string{"conversionValue", "currencyCode"}},
		{name: "large value is not in exponent form", edit: func(c *Conversion) { c.Value = 12345678901.5 }, has: []string{`"conversionValue":12345678901.5,`}},
		{name: "order id escaped", edit: func(c *Conversion) { c.OrderID = "a\"b\\c\n" }, has: []string{`"orderId":"a\"b\\c\n"`}},
		{name: "no order id", edit: func(c *Conversion) { c.OrderID = "" }, not: []string{"orderId"}},
		{name: "only a phone", edit: func(c *Conversion) { c.HashedEmail = "" }, has: []string{`"userIdentifiers":[{"hashedPhoneNumber":`}},
		{name: "no identifiers", edit: func(c *Conversion) { c.HashedEmail, c.HashedPhone = "", "" }, not: []string{"userIdentifiers"}},
		{name: "consent not stated", edit: func(c *Conversion) { c.AdUserData = "" }, not: []string{"consent"}},
		{name: "ad personalization never sent", not: []string{"adPersonalization"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			if tc.edit != nil {
				tc.edit(&c)
			}
			body, err := AppendBody(nil, []Conversion{c}, tc.validate)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(body) {
				t.Fatalf("not JSON: %s", body)
			}
			for _, s := range tc.has {
				if !strings.Contains(string(body), s) {
					t.Errorf("%s lacks %s", body, s)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(string(body), s) {
					t.Errorf("%s has %s", body, s)
				}
			}
		})
	}
	bad := base
	bad.Kind = 0
	if _, err := AppendBody(nil, []Conversion{bad}, false); err == nil {
		t.Error("no click id: no error")
	}
	bad = base
	bad.Value = nanValue()
	if _, err := AppendBody(nil, []Conversion{bad}, false); err == nil {
		t.Error("NaN value: no error")
	}
}

func nanValue() float64 { v, _ := strconv.ParseFloat("NaN", 64); return v }

func TestBuildSplits(t *testing.T) {
	c := mustConversion(t)
	convs := make([]Conversion, 4500)
	for i := range convs {
		convs[i] = c
		convs[i].EventID = strconv.Itoa(i)
	}
	for _, tc := range []struct {
		max   int
		sizes []int
	}{
		{0, []int{2000, 2000, 500}},
		{2000, []int{2000, 2000, 500}},
		{1000, []int{1000, 1000, 1000, 1000, 500}},
		{4500 / 2, nil}, // over Google's limit: an error
		{-1, nil},
	} {
		reqs, err := Build(dest.CustomerID, convs, BuildOptions{MaxPerRequest: tc.max})
		if tc.sizes == nil {
			if err == nil {
				t.Errorf("max %d: no error", tc.max)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(reqs) != len(tc.sizes) {
			t.Fatalf("max %d: %d requests, want %d", tc.max, len(reqs), len(tc.sizes))
		}
		next := 0
		for i, r := range reqs {
			var body struct {
				Conversions []json.RawMessage `json:"conversions"`
			}
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Fatal(err)
			}
			if len(r.Conversions) != tc.sizes[i] || len(body.Conversions) != tc.sizes[i] {
				t.Fatalf("max %d: request %d has %d/%d conversions, want %d", tc.max, i, len(r.Conversions), len(body.Conversions), tc.sizes[i])
			}
			if r.Conversions[0].EventID != strconv.Itoa(next) || r.CustomerID != dest.CustomerID {
				t.Fatalf("request %d starts at event %s, want %d", i, r.Conversions[0].EventID, next)
			}
			next += tc.sizes[i]
		}
	}
	if reqs, err := Build(dest.CustomerID, nil, BuildOptions{}); err != nil || len(reqs) != 0 {
		t.Fatalf("nothing to send: %d requests, %v", len(reqs), err)
	}
	if _, err := Build("123-456", convs, BuildOptions{}); err == nil {
		t.Fatal("customer id with dashes: no error")
	}
}

// AppendBody into a buffer with room allocates nothing (TestAppendBodyAllocs).
func BenchmarkAppendBody(b *testing.B) {
	c := mustConversion(b)
	convs := make([]Conversion, 2000)
	for i := range convs {
		convs[i] = c
	}
	buf, _ := AppendBody(nil, convs, false)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendBody(buf[:0], convs, false)
	}
}

func TestAppendBodyAllocs(t *testing.T) {
	convs := []Conversion{mustConversion(t), mustConversion(t)}
	buf, _ := AppendBody(nil, convs, true)
	if n := testing.AllocsPerRun(100, func() { buf, _ = AppendBody(buf[:0], convs, true) }); n != 0 {
		t.Fatalf("%v allocations per body", n)
	}
}

// FuzzAppendBody: any order id, currency and value give valid JSON that
// reads back to the same order id (invalid UTF-8 becomes U+FFFD).
func FuzzAppendBody(f *testing.F) {
	f.Add("order-1", "EUR", 49.9)
	f.Add("a\"b\\\x00\xff", "", 1e300)
	f.Fuzz(func(t *testing.T, orderID, currency string, value float64) {
		c := mustConversion(t)
		c.OrderID, c.Currency, c.Value = orderID, currency, value
		body, err := AppendBody(nil, []Conversion{c}, false)
		if err != nil {
			if value == value && value-value == 0 { // finite
				t.Fatalf("finite value %v: %v", value, err)
			}
			return
		}
		var got struct {
			Conversions []struct {
				OrderID         string   `json:"orderId"`
				ConversionValue *float64 `json:"conversionValue"`
			} `json:"conversions"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if len(got.Conversions) != 1 || got.Conversions[0].OrderID != replaceInvalid(orderID) || *got.Conversions[0].ConversionValue != value {
			t.Fatalf("%s read back as %+v", body, got)
		}
	})
}

// replaceInvalid replaces each byte that is not UTF-8 with U+FFFD, as
// event.AppendString does.
func replaceInvalid(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
