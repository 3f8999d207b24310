package googleads

import (
	"bytes"
	"encoding/csv"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/event"
)

var update = flag.Bool("update", false, "rewrite testdata/google-conversions.csv")

// The file matches Google's "conversions from clicks" template
// (support.google.com/google-ads/answer/7014069): the Parameters:TimeZone
// row, the header row that begins with Google Click ID, then the rows.
func TestWriteCSVGolden(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	var convs []Conversion
	add := func(edit func(e *event.Event)) {
		e := purchase()
		edit(e)
		c, err := NewConversion(e, dest, berlin)
		if err != nil {
			t.Fatal(err)
		}
		convs = append(convs, c)
	}
	add(func(e *event.Event) {}) // a winter purchase, consent given for user data
	add(func(e *event.Event) {   // a summer purchase with a comma in its order id
		e.TS, e.TSMs, e.ClickTSMs = 1784111445, 1784111445000, 1784111000000
		e.Value, e.OrderID = 1234.5, []byte("A,7")
		e.Tracking[event.GCLID] = []byte("EAIaIQobChMI_second")
	})
	add(func(e *event.Event) { // an engaged visit: no value, no order id, consent not stated
		e.Name, e.Value, e.Currency, e.OrderID = []byte("EngagedVisit"), 0, nil, nil
		e.Tracking[event.AdUserData], e.Tracking[event.AdPersonalization] = nil, nil
	})
	add(func(e *event.Event) { // an iOS click: not in the file
		e.Tracking[event.GCLID], e.Tracking[event.WBRAID] = nil, []byte("wbraid1")
	})
	convs[2].ConversionName = `Engaged visit "60 s"`
	var b bytes.Buffer
	n, err := WriteCSV(&b, convs, CSVOptions{TimeZone: berlin})
	if err != nil {
		t.Fatal(err)
	}
	if n != (CSVCounts{Written: 3, Braid: 1}) {
		t.Fatalf("counts %+v", n)
	}
	const golden = "testdata/google-conversions.csv"
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("file\n%s\nwant (%s)\n%s", b.Bytes(), golden, want)
	}
	// And it reads back as CSV with the template's header.
	r := csv.NewReader(bytes.NewReader(want))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if recs[0][0] != "Parameters:TimeZone=Europe/Berlin" || strings.Join(recs[1][:5], ",") != "Google Click ID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency" {
		t.Fatalf("head %q %q", recs[0], recs[1])
	}
	if recs[3][7] != "A,7" || recs[4][1] != `Engaged visit "60 s"` {
		t.Fatalf("quoted fields %q %q", recs[3][7], recs[4][1])
	}
}

func TestWriteCSVErrors(t *testing.T) {
	var b bytes.Buffer
	if _, err := WriteCSV(&b, nil, CSVOptions{}); err == nil {
		t.Error("no zone: no error")
	}
	if _, err := WriteCSV(&b, nil, CSVOptions{TimeZone: time.Local}); err == nil {
		t.Error("Local: no error")
	}
	if _, err := WriteCSV(&b, nil, CSVOptions{TimeZone: time.FixedZone("", 3600)}); err == nil {
		t.Error("unnamed zone: no error")
	}
	c := mustConversion(t)
	c.Value = nanValue()
	if _, err := WriteCSV(&b, []Conversion{c}, CSVOptions{TimeZone: time.UTC}); err == nil {
		t.Error("NaN: no error")
	}
	b.Reset()
	n, err := WriteCSV(&b, nil, CSVOptions{TimeZone: time.UTC})
	if err != nil || n.Written != 0 || b.String() != "Parameters:TimeZone=UTC\n"+strings.Join(CSVHeader, ",")+"\n" {
		t.Fatalf("empty file %q, %v", b.String(), err)
	}
}

// A conversion made in another zone is written in the file's zone.
func TestWriteCSVConvertsZone(t *testing.T) {
	c := mustConversion(t) // Europe/Berlin, 11:30:45+01:00
	var b bytes.Buffer
	if _, err := WriteCSV(&b, []Conversion{c}, CSVOptions{TimeZone: time.UTC}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), ",2026-01-15 10:30:45,") {
		t.Fatalf("file %s", b.String())
	}
}
