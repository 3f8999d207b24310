// Package spend reads what the ad platforms charged from the CSV files their
// UIs export (Google Ads' campaign report, Meta Ads Manager's export, and a
// plain CSV of our own) and writes it to pixel.ad_spend, one row per
// platform, account, campaign and day, with the campaign's utm_campaign key
// so that cost joins the events' campaigns (CPA, ROAS).
//
// Parse turns a file into rows and says which lines it skipped and why;
// Write inserts them. Importing the same file again changes nothing (see
// schemas/clickhouse/0007_ad_spend.sql): pixel.ad_spend is a
// ReplacingMergeTree on that key, read with FINAL.
package spend

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Platform names the layout of a file: whose export it is.
type Platform string

// The layouts Parse reads.
const (
	Google Platform = "google" // Google Ads: Reports > Campaigns, downloaded as CSV or "CSV for Excel"
	Meta   Platform = "meta"   // Meta Ads Manager: Reports > Export table data (.csv)
	CSV    Platform = "csv"    // ours: date,platform,account,campaign,cost,currency,clicks,impressions
)

// ParsePlatform checks a platform's name.
func ParsePlatform(s string) (Platform, error) {
	switch p := Platform(strings.ToLower(strings.TrimSpace(s))); p {
	case Google, Meta, CSV:
		return p, nil
	}
	return "", fmt.Errorf("unknown platform %q; use google (a Google Ads campaign report), meta (a Meta Ads Manager export) or csv (date,platform,account,campaign,cost,currency,clicks,impressions)", s)
}

// Row is one platform, account, campaign and day of spend.
type Row struct {
	Date        time.Time // the day, 00:00 UTC; the platform's day in the account's time zone
	Platform    string    // google, meta, or as the csv says
	Account     string    // the export's account id or name, else Options.Account
	Campaign    string    // the campaign's name as the platform shows it
	CampaignID  string    // the platform's campaign id when the export has it, else ""
	UTMCampaign string    // UTMCampaign(Campaign): the key that joins events' utm_campaign
	Currency    string    // ISO 4217 code, upper-case
	CostMicros  int64     // cost in millionths of Currency
	Clicks      uint64
	Impressions uint64
	Line        int // the file's line of the row (the first, when rows were summed)
}

// UTMCampaign returns the utm_campaign key of a campaign name: ASCII letters
// lower-cased, every run of white space (as RE2's \s: tab, new line, form
// feed, carriage return, space), '_', '-' and '+' becomes one '_', and none
// is left at either end; every other byte is kept. UTM guides (Google's
// Campaign URL Builder among them) advise lower-case values without spaces,
// and Meta's {{campaign.name}} URL parameter puts the name in as it is:
// the key makes "Black Friday - 2026", "black-friday-2026" and
// "black_friday_2026" one campaign. ClickHouse computes the same key as
//
//	replaceRegexpAll(replaceRegexpAll(lower(s), '[\\s_+-]+', '_'), '^_|_$', '')
//
// (lower changes ASCII letters only, as here), so reports apply it to the
// events' utm_campaign; a test holds the two equal.
func UTMCampaign(name string) string {
	b := make([]byte, 0, len(name))
	pending := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch c {
		case ' ', '\t', '\n', '\f', '\r', '_', '-', '+':
			pending = len(b) > 0
			continue
		}
		if pending {
			b = append(b, '_')
			pending = false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}

// Total sums rows of one platform and currency.
type Total struct {
	Platform    string `json:"platform"`
	Currency    string `json:"currency"`
	Rows        int    `json:"rows"`
	CostMicros  int64  `json:"cost_micros"`
	Clicks      uint64 `json:"clicks"`
	Impressions uint64 `json:"impressions"`
}

// Totals sums rows per platform and currency (never across currencies), in
// that order.
func Totals(rows []Row) []Total {
	idx := map[[2]string]int{}
	var out []Total
	for _, r := range rows {
		k := [2]string{r.Platform, r.Currency}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, Total{Platform: r.Platform, Currency: r.Currency})
		}
		t := &out[i]
		t.Rows++
		t.CostMicros += r.CostMicros
		t.Clicks += r.Clicks
		t.Impressions += r.Impressions
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Platform != out[j].Platform {
			return out[i].Platform < out[j].Platform
		}
		return out[i].Currency < out[j].Currency
	})
	return out
}

// FormatMicros writes an amount of micros in units with two decimals or
// more when the amount has them: 1234560000 is "1234.56".
func FormatMicros(m int64) string {
	sign := ""
	u := uint64(m)
	if m < 0 {
		sign, u = "-", uint64(-m)
	}
	frac := fmt.Sprintf("%06d", u%1_000_000)
	frac = strings.TrimRight(frac, "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return fmt.Sprintf("%s%d.%s", sign, u/1_000_000, frac)
}
