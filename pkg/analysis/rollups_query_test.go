package analysis_test

import (
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// TestQueryConversionsByHand runs the conversions report over a few events
// whose answer is worked out by hand: a replayed purchase, a browser and a
// server copy of one purchase whose backend corrected the value, two
// currencies, a campaign landing, and another pixel.
func TestQueryConversionsByHand(t *testing.T) {
	conn := open(t, devstacktest.Database(t))
	landing := func(r row, campaign string) row { r.Campaign = campaign; return r }
	money := func(r row, value float64, currency, channel string) row {
		r.Value, r.Currency, r.Channel = value, currency, channel
		return r
	}
	rows := []row{
		// v1 lands from spring, buys for 19.90 in the browser; the server
		// sends the same purchase five seconds later at 21.90.
		landing(ev("p1", "shop", "v1", "s1", "PageView", at(10, 9, 0, 0)), "spring"),
		money(ev("c1", "shop", "v1", "s1", "Purchase", at(10, 10, 0, 0)), 19.9, "EUR", "browser"),
		// v2 comes directly and buys for 30.05; a replay stores it twice more.
		ev("p2", "shop", "v2", "s2", "PageView", at(10, 11, 0, 0)),
		money(ev("c2", "shop", "v2", "s2", "Purchase", at(10, 11, 5, 0)), 30.05, "EUR", "browser"),
		// v3 only looks.
		ev("p3", "shop", "v3", "s3", "PageView", at(10, 12, 0, 0)),
		// v1 again the next day from brand, buys for 5 USD.
		landing(ev("p4", "shop", "v1", "s4", "PageView", at(11, 8, 0, 0)), "brand"),
		money(ev("c3", "shop", "v1", "s4", "Purchase", at(11, 8, 1, 0)), 5, "USD", "browser"),
		// Another pixel's purchase, and one of shop after the range.
		money(ev("c4", "other", "v9", "s9", "Purchase", at(10, 10, 0, 0)), 100, "EUR", "browser"),
		money(ev("c5", "shop", "v2", "s5", "Purchase", at(12, 0, 0, 0)), 7, "EUR", "browser"),
	}
	insertQueryRows(t, conn, rows, "c2", "c2")
	server := []row{money(ev("c1", "shop", "v1", "s1", "Purchase", at(10, 10, 0, 5)), 21.9, "EUR", "server")}
	if err := chstore.Insert(testContext(t), conn, buildRows(server), ""); err != nil {
		t.Fatal(err)
	}

	params := map[string]string{"pixel": "shop", "from": "2026-01-10", "to": "2026-01-11", "tz": "UTC"}
	header := "dimension\tcurrency\tconversions\tconverters\tvisitors\tconversion_rate\trevenue"
	checkQuery(t, conn, "conversions", params, header,
		"2026-01-10\tEUR\t2\t2\t3\t0.6666666666666666\t51.95",
		"2026-01-11\tUSD\t1\t1\t1\t1\t5",
		"Total\tEUR\t2\t2\t3\t0.6666666666666666\t51.95",
		"Total\tUSD\t1\t1\t3\t0.3333333333333333\t5",
	)
	params["by"] = "campaign"
	checkQuery(t, conn, "conversions", params, header,
		"(none)\tEUR\t1\t1\t2\t0.5\t30.05",
		"brand\tUSD\t1\t1\t1\t1\t5",
		"spring\tEUR\t1\t1\t1\t1\t21.9",
		"Total\tEUR\t2\t2\t3\t0.6666666666666666\t51.95",
		"Total\tUSD\t1\t1\t3\t0.3333333333333333\t5",
	)
	// Another event name: no Lead anywhere, so each group is one row of zeros.
	params["event"] = "Lead"
	params["by"] = "day"
	checkQuery(t, conn, "conversions", params, header,
		"2026-01-10\t\t0\t0\t3\t0\t0",
		"2026-01-11\t\t0\t0\t1\t0\t0",
		"Total\t\t0\t0\t3\t0\t0",
	)
	// Values are bound, never spliced into the SQL.
	params["pixel"] = "shop' OR pixel_id != '"
	checkQuery(t, conn, "conversions", params, header)
}
