package spend

// Summary is what an import read and wrote: pixelctl spend import -format
// json prints it, and the console shows it and answers it from POST
// /api/spend, so both front ends tell the same story.
type Summary struct {
	File       string         `json:"file"`
	Platform   string         `json:"platform"`
	SHA256     string         `json:"sha256"`
	HeaderLine int            `json:"header_line"`
	Read       int            `json:"lines_read"`
	Merged     int            `json:"lines_summed"`
	Skipped    []Skip         `json:"skipped"`
	Rows       int            `json:"rows"`
	DryRun     bool           `json:"dry_run"`
	Totals     []SummaryTotal `json:"totals"`
}

// SummaryTotal is a Total with its cost in units (FormatMicros).
type SummaryTotal struct {
	Total
	Cost string `json:"cost"`
}

// Summarize says what importing f (read from file) does; dryRun is whether
// its rows were left unwritten.
func Summarize(file string, f *File, dryRun bool) Summary {
	totals := Totals(f.Rows)
	ts := make([]SummaryTotal, len(totals))
	for i, t := range totals {
		ts[i] = SummaryTotal{t, FormatMicros(t.CostMicros)}
	}
	skipped := f.Skipped
	if skipped == nil {
		skipped = []Skip{}
	}
	return Summary{File: file, Platform: string(f.Platform), SHA256: f.SHA256, HeaderLine: f.Header, Read: f.Read, Merged: f.Merged,
		Skipped: skipped, Rows: len(f.Rows), DryRun: dryRun, Totals: ts}
}
