package dataset

import (
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/audience"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

// TestAudiencesMatchOracle inserts a generated population (replays, browser
// and server copies, bots, visitors without consent, GPC, phones, external
// ids) into ClickHouse, records erasure requests for some of its visitors,
// and checks that every audience rule (pkg/audience, the shipped SQL)
// returns exactly the oracle's members, identifiers and exclusions, and that
// an export counts the excluded by reason as the oracle does.
func TestAudiencesMatchOracle(t *testing.T) {
	o := devstacktest.Database(t)
	conn := devstacktest.Open(t, o)
	ctx := devstacktest.Context(t)
	// Every stored copy counts, whenever merges would collapse some (see
	// TestInsertMatchesOracle).
	if err := conn.Exec(ctx, "SYSTEM STOP MERGES events"); err != nil {
		t.Fatal(err)
	}
	gen := Generate(DefaultConfig(5, 1200))
	if _, err := Insert(ctx, conn, gen, 20_000); err != nil {
		t.Fatal(err)
	}
	cfg := gen.Config()
	p := FromEvents(cfg.Pixels, gen.All())

	// Erasure requests: of the visitors with an email (who reached the
	// checkout, so are in several audiences), some by visitor id and some by
	// email, as pixelctl forget records them; their events stand for those
	// that arrived after it.
	erasedVisitors, erasedEmails := map[string]bool{}, map[string]bool{}
	withEmail := 0
	seen := map[string]bool{}
	for _, e := range p.events {
		email := string(e.Tracking[event.EmailSHA256])
		if email == "" || seen[string(e.VisitorID)] {
			continue
		}
		seen[string(e.VisitorID)] = true
		withEmail++
		switch withEmail % 10 {
		case 1:
			erasedVisitors[string(e.VisitorID)] = true
		case 2:
			erasedEmails[email] = true
		}
	}
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO erasures (key_kind, key)")
	if err != nil {
		t.Fatal(err)
	}
	for v := range erasedVisitors {
		if err := batch.Append("visitor_id", v); err != nil {
			t.Fatal(err)
		}
	}
	for e := range erasedEmails {
		if err := batch.Append("email_sha256", e); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}

	type run struct {
		rule   string
		w      AudienceWindow
		params map[string]string
		want   map[string]AudienceMember
	}
	var runs []run
	for _, px := range cfg.Pixels {
		modes := []bool{!px.FlagsGPC} // the pixel's own setting
		if px.FlagsGPC {
			modes = append(modes, true) // and as if it honoured GPC
		}
		for _, honour := range modes {
			for _, win := range []struct {
				to   string
				days int
			}{
				{"2026-11-16", 30}, // the whole range and the day after
				{"2026-11-09", 3},  // edges within it
			} {
				w := AudienceWindow{Pixel: px.ID, To: win.to, Days: win.days, HonourGPC: honour,
					ErasedVisitors: erasedVisitors, ErasedEmails: erasedEmails}
				gpc := pixel.SignalFlag
				if honour {
					gpc = pixel.SignalDrop
				}
				params := func(extra ...string) map[string]string {
					m := map[string]string{"pixel": px.ID, "tz": px.TimeZone, "gpc_mode": gpc.String(),
						"to": win.to, "days": strconv.Itoa(win.days)}
					for i := 0; i+1 < len(extra); i += 2 {
						m[extra[i]] = extra[i+1]
					}
					return m
				}
				runs = append(runs,
					run{"engaged-no-purchase", w, params(), p.EngagedNoPurchase(w, 60)},
					run{"engaged-no-purchase", w, params("seconds", "150"), p.EngagedNoPurchase(w, 150)},
					run{"cart-abandoners", w, params(), p.CartAbandoners(w, 7)},
					run{"cart-abandoners", w, params("purchase_days", "1"), p.CartAbandoners(w, 1)},
					run{"viewed-not-bought", w, params(), p.ViewedNotBought(w)},
					run{"purchasers", w, params(), p.Purchasers(w)},
					run{"visited-pages", w, params("pattern", "%/product/sku-10_"), p.VisitedPages(w, "%/product/sku-10_")},
					run{"visited-pages", w, params("pattern", "%utm_campaign=brand%"), p.VisitedPages(w, "%utm_campaign=brand%")},
					// Crawlers see category pages only.
					run{"visited-pages", w, params("pattern", "%/category/_"), p.VisitedPages(w, "%/category/_")},
				)
			}
		}
	}

	reasons := map[string]int{} // over all runs: every exclusion must occur
	for _, r := range runs {
		name := fmt.Sprintf("%s %s to %s %d days gpc %s", r.rule, r.w.Pixel, r.w.To, r.w.Days, r.params["gpc_mode"])
		a, err := audience.Run(ctx, conn, r.rule, r.params)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := map[string]AudienceMember{}
		for _, m := range a.Members {
			got[m.VisitorID] = AudienceMember{Values: m.Values,
				EmailSHA256: m.EmailSHA256, EmailGoogleSHA256: m.EmailGoogleSHA256,
				PhoneSHA256: m.PhoneSHA256, PhoneGoogleSHA256: m.PhoneGoogleSHA256,
				ExternalID: m.ExternalID, Excluded: m.Excluded}
		}
		if len(got) != len(a.Members) {
			t.Errorf("%s: %d rows for %d visitors; want one row per visitor", name, len(a.Members), len(got))
		}
		if !reflect.DeepEqual(got, r.want) {
			t.Errorf("%s: %d members from SQL, oracle %d; differences:\n%s", name, len(got), len(r.want), diff(got, r.want))
			continue
		}
		for _, m := range r.want {
			if m.PhoneSHA256 != "" && m.PhoneGoogleSHA256 != "" {
				reasons["with phone"]++
			}
			if m.ExternalID != "" {
				reasons["with external id"]++
			}
		}
		if r.w.Days == 30 && len(r.want) < 20 {
			t.Errorf("%s: the oracle has only %d members; the test wants a population that fills each audience", name, len(r.want))
		}
		// What an export writes and leaves out, by reason.
		for _, f := range []audience.Format{audience.IDs, audience.Meta, audience.Google} {
			c, err := audience.Write(io.Discard, f, a.Members)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if want := wantCounts(f, r.want); c != want {
				t.Errorf("%s, %s export: counts %+v, oracle %+v", name, f, c, want)
			}
			if f == audience.Meta && r.w.Days == 30 {
				t.Logf("%s: meta: %s", name, c)
			}
			if f == audience.IDs {
				reasons["consent"] += c.Consent
				reasons["optout"] += c.OptOut
				reasons["gpc"] += c.GPC
				reasons["bot"] += c.Bot
				reasons["exported"] += c.Exported
			}
		}
	}
	for _, k := range []string{"consent", "optout", "gpc", "bot", "exported", "with phone", "with external id"} {
		if reasons[k] == 0 {
			t.Errorf("no run had a member %s; the population must exercise every exclusion and identifier (%v)", k, reasons)
		}
	}
	t.Logf("%d audience runs; members by exclusion and identifier over all runs: %v", len(runs), reasons)
}

// wantCounts is what an export of members in format f must count: the
// excluded by their reason; of the others, those with an identifier the
// format takes are written (ids: a visitor id; meta: a hashed email or
// phone, or an external id, which the writer hashes; google: Google's
// hashed email or phone).
func wantCounts(f audience.Format, members map[string]AudienceMember) audience.Counts {
	var c audience.Counts
	for v, m := range members {
		switch m.Excluded {
		case "consent":
			c.Consent++
			continue
		case "optout":
			c.OptOut++
			continue
		case "gpc":
			c.GPC++
			continue
		case "bot":
			c.Bot++
			continue
		}
		var has bool
		switch f {
		case audience.IDs:
			has = v != ""
		case audience.Meta:
			has = pixel.IsSHA256Hex([]byte(m.EmailSHA256)) || pixel.IsSHA256Hex([]byte(m.PhoneSHA256)) || m.ExternalID != ""
		case audience.Google:
			has = pixel.IsSHA256Hex([]byte(m.EmailGoogleSHA256)) || pixel.IsSHA256Hex([]byte(m.PhoneGoogleSHA256))
		}
		if has {
			c.Exported++
		} else {
			c.NoIdentifier++
		}
	}
	return c
}

// diff lists up to ten visitors whose membership differs.
func diff(got, want map[string]AudienceMember) string {
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := ""
	n := 0
	for _, k := range keys {
		g, gok := got[k]
		w, wok := want[k]
		if gok && wok && reflect.DeepEqual(g, w) {
			continue
		}
		if n++; n > 10 {
			return out + "  ...\n"
		}
		switch {
		case !wok:
			out += fmt.Sprintf("  %s: SQL %+v, not in the oracle\n", k, g)
		case !gok:
			out += fmt.Sprintf("  %s: oracle %+v, not from SQL\n", k, w)
		default:
			out += fmt.Sprintf("  %s: SQL %+v\n  %s: oracle %+v\n", k, g, k, w)
		}
	}
	return out
}
