package googleads

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// CSVHeader is the header row of the file: the columns of Google's
// "conversions from clicks" template (support.google.com/google-ads/answer/7014069;
// the template as downloaded from Google Ads > Conversions > Uploads has
// Google Click ID, Conversion Name, Conversion Time, Conversion Value,
// Conversion Currency, Ad User Data, Ad Personalization), then the optional
// Order ID, Google's de-duplication key. Google reads the columns by name;
// "be sure not to remove the column that begins with Google Click ID".
var CSVHeader = []string{
	"Google Click ID", "Conversion Name", "Conversion Time", "Conversion Value",
	"Conversion Currency", "Ad User Data", "Ad Personalization", "Order ID",
}

// csvTime is the Conversion Time format: the time in the zone of the
// Parameters:TimeZone row, without an offset. Google's accepted formats
// include "yyyy-mm-dd hh:mm:ss" with the zone given by that row; an offset
// written as "+01:00" (the API's form) is refused in the file.
const csvTime = "2006-01-02 15:04:05"

// CSVOptions are the file's settings.
type CSVOptions struct {
	// TimeZone is the pixel's time zone: written in the Parameters:TimeZone
	// row (an IANA id, which Google's time zone table lists) and used for
	// every Conversion Time.
	TimeZone *time.Location
}

// CSVCounts says what WriteCSV did with the conversions.
type CSVCounts struct {
	Written int
	// Braid counts conversions skipped because they carry a wbraid or
	// gbraid: the template's one click-id column is for gclids, so these
	// go through the API (which takes them) instead.
	Braid int
}

// WriteCSV writes the offline-conversion file for upload in the Google Ads
// UI (Goals > Conversions > Uploads): the Parameters:TimeZone row, the
// header row and one row per gclid conversion, in order. This is what
// `pixelctl export google-conversions` prints.
func WriteCSV(w io.Writer, convs []Conversion, opts CSVOptions) (CSVCounts, error) {
	var n CSVCounts
	loc := opts.TimeZone
	if loc == nil {
		return n, ErrNoTimeZone
	}
	if name := loc.String(); name == "" || name == "Local" {
		return n, fmt.Errorf("cannot write the conversion file: time zone %q is not an IANA name: load it with time.LoadLocation (e.g. Europe/Berlin)", name)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"Parameters:TimeZone=" + loc.String()}); err != nil {
		return n, fmt.Errorf("cannot write the conversion file: %w", err)
	}
	if err := cw.Write(CSVHeader); err != nil {
		return n, fmt.Errorf("cannot write the conversion file: %w", err)
	}
	row := make([]string, len(CSVHeader))
	for i := range convs {
		c := &convs[i]
		if c.Kind != GCLID {
			n.Braid++
			continue
		}
		value := ""
		if c.HasValue {
			if math.IsNaN(c.Value) || math.IsInf(c.Value, 0) {
				return n, fmt.Errorf("cannot write the conversion of event %s: %w", c.EventID, ErrValue)
			}
			value = strconv.FormatFloat(c.Value, 'f', -1, 64)
		}
		row[0], row[1], row[2], row[3] = c.ClickID, c.ConversionName, c.Time.In(loc).Format(csvTime), value
		row[4], row[5], row[6], row[7] = c.Currency, fileConsent(c.AdUserData), fileConsent(c.AdPersonalization), c.OrderID
		if err := cw.Write(row); err != nil {
			return n, fmt.Errorf("cannot write the conversion file: %w", err)
		}
		n.Written++
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return n, fmt.Errorf("cannot write the conversion file: %w", err)
	}
	return n, nil
}

// fileConsent is the file's spelling of a consent status: Granted, Denied,
// or empty (sent to Google as unspecified).
func fileConsent(s string) string {
	switch s {
	case ConsentGranted:
		return "Granted"
	case ConsentDenied:
		return "Denied"
	}
	return ""
}
