package spend

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// Options fill in what a file does not say.
type Options struct {
	Account  string // the account of rows whose file has no account column; required then, except for CSV
	Currency string // the currency of rows whose file has neither a currency column nor one in the cost column's name
}

// File is a parsed export.
type File struct {
	Platform Platform
	SHA256   string // hex SHA-256 of the file's bytes, stored with its rows
	Header   int    // the line of the column names
	Rows     []Row  // one per platform, account, campaign and day
	Read     int    // data lines read (after the header, blank lines aside)
	Merged   int    // data lines added to an earlier line's row of the same key
	Skipped  []Skip // data lines that are not spend: totals, summaries
}

// Skip is a line Parse left out, and why.
type Skip struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// LineError is a line of the file that Parse cannot read.
type LineError struct {
	Line   int
	Column string // the column's name in the file, "" for the whole line
	Err    error
}

func (e *LineError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("line %d, column %q: %v", e.Line, e.Column, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// maxHeaderLine is how far down Parse looks for the column names: Google
// puts a title and the date range above them, Meta nothing.
const maxHeaderLine = 50

// field is a value Parse reads from a column.
type field int

const (
	fDate field = iota
	fDateEnd
	fPlatform
	fAccount
	fCampaign
	fCampaignID
	fCurrency
	fCost
	fClicks
	fImpressions
	nFields
)

// layout is a platform's column names: for each field, the names it may
// have in the header, preferred first, compared without case.
type layout struct {
	names    [nFields][]string
	required []field
	hint     string // what the file should be, for the error when no header is found
}

var layouts = map[Platform]*layout{
	Google: {
		names: [nFields][]string{
			fDate:        {"Day", "Date"},
			fAccount:     {"Customer ID", "Account", "Account name"},
			fCampaign:    {"Campaign", "Campaign name"},
			fCampaignID:  {"Campaign ID"},
			fCurrency:    {"Currency code", "Currency"},
			fCost:        {"Cost"},
			fClicks:      {"Clicks"},
			fImpressions: {"Impr.", "Impressions"},
		},
		required: []field{fDate, fCampaign, fCost},
		hint:     `a Google Ads campaign report with the columns Day, Campaign, Currency code, Cost, Clicks and Impr. (Reports > Predefined reports > Basic > Campaign, segmented by Day; Download > CSV or CSV for Excel)`,
	},
	Meta: {
		names: [nFields][]string{
			fDate:        {"Day", "Reporting starts"},
			fDateEnd:     {"Reporting ends"},
			fAccount:     {"Account ID", "Account name"},
			fCampaign:    {"Campaign name"},
			fCampaignID:  {"Campaign ID"},
			fCurrency:    {"Currency"},
			fCost:        {"Amount spent"}, // also "Amount spent (EUR)": see metaCost
			fClicks:      {"Link clicks", "Clicks (all)"},
			fImpressions: {"Impressions"},
		},
		required: []field{fDate, fCampaign, fCost},
		hint:     `a Meta Ads Manager export with the columns Reporting starts, Reporting ends, Campaign name, Amount spent (EUR), Impressions and Link clicks (Campaigns tab, Breakdown > By time > Day; Reports > Export table data > .csv)`,
	},
	CSV: {
		names: [nFields][]string{
			fDate:        {"date"},
			fPlatform:    {"platform"},
			fAccount:     {"account"},
			fCampaign:    {"campaign"},
			fCampaignID:  {"campaign_id"},
			fCurrency:    {"currency"},
			fCost:        {"cost"},
			fClicks:      {"clicks"},
			fImpressions: {"impressions"},
		},
		required: []field{fDate, fPlatform, fCampaign, fCost, fCurrency},
		hint:     `a CSV file whose first line is date,platform,account,campaign,cost,currency,clicks,impressions`,
	},
}

var accountExample = map[Platform]string{
	Google: "the customer id shown at the top of Google Ads, 123-456-7890",
	Meta:   "the ad account id in Ads Manager's URL (act=...), act_1029384756",
}

// metaCost is Meta's cost column, which names the account's currency:
// "Amount spent (EUR)".
var metaCost = regexp.MustCompile(`(?i)^amount spent\s*\(([a-z]{3})\)$`)

// header is a file's column names mapped to fields.
type header struct {
	col      [nFields]int // index of each field's column, -1 when absent
	name     [nFields]string
	currency string // from the cost column's name
	width    int    // number of column names
	line     int    // the line of the column names
}

func cleanCell(s string) string {
	return strings.TrimSpace(strings.TrimPrefix(s, "\uFEFF"))
}

// match maps a line's cells to l's fields; ok when the required ones are there.
func (l *layout) match(cells []string) (header, bool) {
	var h header
	h.width = len(cells)
	for f := range h.col {
		h.col[f] = -1
	}
	for f := field(0); f < nFields; f++ {
		for _, want := range l.names[f] {
			for i, c := range cells {
				if strings.EqualFold(cleanCell(c), want) {
					h.col[f], h.name[f] = i, cleanCell(c)
					break
				}
			}
			if h.col[f] >= 0 {
				break
			}
		}
	}
	if l == layouts[Meta] && h.col[fCost] < 0 {
		for i, c := range cells {
			if m := metaCost.FindStringSubmatch(cleanCell(c)); m != nil {
				h.col[fCost], h.name[fCost], h.currency = i, cleanCell(c), strings.ToUpper(m[1])
				break
			}
		}
	}
	for _, f := range l.required {
		if h.col[f] < 0 {
			return h, false
		}
	}
	return h, true
}

// findHeader finds the line of column names among the first lines of text
// and the separator that splits it: a comma, a tab (Google's CSV for Excel)
// or a semicolon (Excel where the decimal separator is a comma). It returns
// the header's 1-based line and the byte offset of the line after it.
func findHeader(l *layout, text string) (header, rune, int, int, error) {
	off := 0
	for line := 1; line <= maxHeaderLine && off < len(text); line++ {
		s, _, _ := strings.Cut(text[off:], "\n")
		next := off + len(s) + 1
		s = strings.TrimSuffix(s, "\r")
		// The separator that splits the line most is tried first: a
		// tab-separated header may have a comma in a column's name.
		seps := []rune{',', '\t', ';'}
		sort.SliceStable(seps, func(i, j int) bool { return strings.Count(s, string(seps[i])) > strings.Count(s, string(seps[j])) })
		for _, sep := range seps {
			if !strings.ContainsRune(s, sep) {
				continue
			}
			r := csv.NewReader(strings.NewReader(s))
			r.Comma, r.LazyQuotes, r.FieldsPerRecord = sep, true, -1
			cells, err := r.Read()
			if err != nil {
				continue
			}
			if h, ok := l.match(cells); ok {
				return h, sep, line, min(next, len(text)), nil
			}
		}
		off = next
	}
	return header{}, 0, 0, 0, fmt.Errorf("found no line of column names in the first %d lines; the file should be %s", maxHeaderLine, l.hint)
}

// record is a data line kept for the second pass.
type record struct {
	line  int
	cells []string
}

// Parse reads an export of platform p. It skips the lines above the column
// names, totals rows ("Total: ...") and summary rows (no campaign), and
// sums the lines of one platform, account, campaign and day (an export
// segmented by network or device has several). A value it cannot read is a
// *LineError naming the line and the column.
func Parse(p Platform, data []byte, o Options) (*File, error) {
	p, err := ParsePlatform(string(p))
	if err != nil {
		return nil, err
	}
	l := layouts[p]
	sum := sha256.Sum256(data)
	f := &File{Platform: p, SHA256: hex.EncodeToString(sum[:])}
	text, err := decodeText(data)
	if err != nil {
		return nil, err
	}
	h, sep, line, off, err := findHeader(l, text)
	if err != nil {
		return nil, err
	}
	f.Header, h.line = line, line
	if p != CSV && h.col[fAccount] < 0 && o.Account == "" {
		// Without it, two accounts' campaigns of one name would replace each
		// other, and the same file imported once with an account and once
		// without would count twice.
		return nil, fmt.Errorf("the export has no account column: give the account (-account), e.g. %s", accountExample[p])
	}
	r := csv.NewReader(strings.NewReader(text[off:]))
	r.Comma, r.LazyQuotes, r.FieldsPerRecord = sep, true, -1
	var recs []record
	for {
		cells, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, &LineError{Line: line + pe.Line, Err: pe.Err}
			}
			return nil, err
		}
		at, _ := r.FieldPos(0)
		at += line
		f.Read++
		if reason := skipReason(h, cells); reason != "" {
			f.Skipped = append(f.Skipped, Skip{Line: at, Reason: reason})
			continue
		}
		recs = append(recs, record{at, cells})
	}
	dec := decimalSeparator(h, recs, sep)
	idx := map[rowKey]int{}
	for _, rec := range recs {
		row, err := h.row(p, rec, dec, o)
		if err != nil {
			return nil, err
		}
		k := rowKey{row.Platform, row.Account, row.Campaign, row.Date}
		i, ok := idx[k]
		if !ok {
			idx[k] = len(f.Rows)
			f.Rows = append(f.Rows, row)
			continue
		}
		prev := &f.Rows[i]
		if prev.Currency != row.Currency {
			return nil, &LineError{Line: rec.line, Column: h.name[fCurrency], Err: fmt.Errorf("%s, where line %d has the same campaign and day in %s; an account's spend is in one currency", row.Currency, prev.Line, prev.Currency)}
		}
		prev.CostMicros += row.CostMicros
		prev.Clicks += row.Clicks
		prev.Impressions += row.Impressions
		if prev.CampaignID == "" {
			prev.CampaignID = row.CampaignID
		}
		f.Merged++
	}
	return f, nil
}

type rowKey struct {
	platform, account, campaign string
	date                        time.Time
}

func (h *header) cell(cells []string, f field) string {
	if i := h.col[f]; i >= 0 && i < len(cells) {
		return cleanCell(cells[i])
	}
	return ""
}

// skipReason says why a data line is not spend, "" when it is.
func skipReason(h header, cells []string) string {
	for _, c := range cells {
		c = cleanCell(c)
		if c == "" {
			continue
		}
		// Google ends its reports with "Total: Account", "Total: Campaigns",
		// "Total: Search", ... in the first column.
		// A campaign named "Total Recall" is not one: the colon tells.
		if l := strings.ToLower(c); l == "total" || strings.HasPrefix(l, "total:") {
			return "totals row (" + c + ")"
		}
		break
	}
	if h.cell(cells, fCampaign) == "" || h.cell(cells, fCampaign) == "--" {
		if h.cell(cells, fDate) == "" {
			return "summary row (no day, no campaign)"
		}
		return "summary row (no campaign)"
	}
	return ""
}

// row reads one data line.
func (h *header) row(p Platform, rec record, dec byte, o Options) (Row, error) {
	cells := rec.cells
	if len(cells) <= maxCol(h) {
		return Row{}, &LineError{Line: rec.line, Err: fmt.Errorf("%d values, where the column names (line %d) have %d: is a separator missing, or a quote?", len(cells), h.line, h.width)}
	}
	fail := func(f field, err error) (Row, error) {
		return Row{}, &LineError{Line: rec.line, Column: h.name[f], Err: err}
	}
	var row Row
	row.Line = rec.line
	var err error
	if row.Date, err = parseDate(h.cell(cells, fDate)); err != nil {
		return fail(fDate, err)
	}
	if h.col[fDateEnd] >= 0 && h.col[fDate] >= 0 && !strings.EqualFold(h.name[fDate], "Day") {
		end, err := parseDate(h.cell(cells, fDateEnd))
		if err != nil {
			return fail(fDateEnd, err)
		}
		if !end.Equal(row.Date) {
			return fail(fDateEnd, fmt.Errorf("the row covers %s to %s; spend is stored per day: export with Breakdown > By time > Day", row.Date.Format(time.DateOnly), end.Format(time.DateOnly)))
		}
	}
	row.Platform = string(p)
	if p == CSV {
		pl := strings.ToLower(h.cell(cells, fPlatform))
		if pl == "" {
			return fail(fPlatform, errors.New("empty; name the ad platform (google, meta, bing, ...)"))
		}
		row.Platform = pl
	}
	row.Account = h.cell(cells, fAccount)
	if row.Account == "" {
		row.Account = o.Account
	}
	row.Campaign = h.cell(cells, fCampaign)
	row.CampaignID = h.cell(cells, fCampaignID)
	if row.CampaignID == "--" {
		row.CampaignID = ""
	}
	row.UTMCampaign = UTMCampaign(row.Campaign)
	row.Currency = strings.ToUpper(h.cell(cells, fCurrency))
	if row.Currency == "" {
		row.Currency = h.currency
	}
	if row.Currency == "" {
		row.Currency = strings.ToUpper(o.Currency)
	}
	if !pixel.ValidCurrency([]byte(row.Currency)) {
		if row.Currency == "" {
			return fail(fCurrency, errors.New("no currency: add the column Currency code to the report, or give -currency"))
		}
		return fail(fCurrency, fmt.Errorf("%q is not an ISO 4217 currency code (three letters, as EUR)", row.Currency))
	}
	if row.CostMicros, err = parseMicros(h.cell(cells, fCost), dec); err != nil {
		return fail(fCost, err)
	}
	if row.Clicks, err = parseCount(h.cell(cells, fClicks), dec); err != nil {
		return fail(fClicks, err)
	}
	if row.Impressions, err = parseCount(h.cell(cells, fImpressions), dec); err != nil {
		return fail(fImpressions, err)
	}
	return row, nil
}

// maxCol is the highest column index the header maps.
func maxCol(h *header) int {
	m := 0
	for _, c := range h.col {
		m = max(m, c)
	}
	return m
}

// dateLayouts are the day formats the exports write: ISO (Meta, our csv,
// Google in most languages), Google's English "Nov 1, 2026" and the
// day-first dotted form of German and other locales. Slashed dates are
// refused: 03/11/2026 is March in one locale and November in another.
var dateLayouts = []string{
	time.DateOnly, "2006/01/02", "Jan 2, 2006", "January 2, 2006", "Mon, Jan 2, 2006",
	"Monday, January 2, 2006", "02.01.2006", "2.1.2006",
}

func parseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("empty; a day is needed (2026-11-01)")
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read the day %q; write it as 2026-11-01, Nov 1, 2026 or 01.11.2026 (set the report's date format, or the account's language, to one of them)", s)
}
