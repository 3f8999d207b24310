package console

import (
	"net/url"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/report"
)

// FuzzQueries: the dashboard's range, the report API's options and the
// audience routes' parameters read any query without panicking; a range
// the dashboard accepts is one report.ParseRange accepts, and no key is
// lost or invented.
func FuzzQueries(f *testing.F) {
	for _, s := range []string{"", "last=7d", "last=30d", "last=90d", "from=2026-11-02&to=2026-11-15", "last=4w", "from=2026-11-15&to=2026-11-02",
		"pixel=p&steps=PageView,Purchase&bots=1", "seconds=1&seconds=2", "%zz", "last=7d&from=x", "pixel=p&format=meta&days=30&to=2026-11-16"} {
		f.Add(s)
	}
	today := time.Date(2026, 11, 16, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if r, err := parseDashRange(q, today); err == nil {
			if _, err := report.ParseRange(r.From, r.To, r.Last, today); err != nil {
				t.Fatalf("%q: the dashboard accepts %+v, report.ParseRange does not: %v", raw, r, err)
			}
		}
		if o, err := reportOptions(q, nil); err == nil {
			for k := range o.Params {
				if reportKeys[k] || len(q[k]) != 1 {
					t.Fatalf("%q: parameter %q", raw, k)
				}
			}
		}
		if v, err := ruleValues(q); err == nil {
			for k, x := range v {
				if audienceKeys[k] || q.Get(k) != x {
					t.Fatalf("%q: parameter %q=%q", raw, k, x)
				}
			}
		}
	})
}
