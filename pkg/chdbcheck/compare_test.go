package chdbcheck_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chdbcheck"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/schemas"
)

// oldServer runs statements on one database of the private 18.16 server over
// its HTTP interface, so that its answers come in the very format chDB's
// come in (JSONCompact), from the very text chDB ran.
type oldServer struct {
	port     int
	database string
}

// answer is a query's result: its columns ("name Type") and rows, each value
// as JSONCompact writes it, decoded with json.Number.
type answer struct {
	cols []string
	rows [][]any
}

func (s oldServer) run(ctx context.Context, sql string, query bool) (*answer, error) {
	// 64-bit integers as JSON numbers, as chDB writes them (its default
	// differs from a server's).
	v := url.Values{"database": {s.database}, "output_format_json_quote_64bit_integers": {"0"}}
	if query {
		v.Set("default_format", "JSONCompact")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/?%s", s.port, v.Encode()), strings.NewReader(sql))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if !query {
		return nil, nil
	}
	var r struct {
		Meta []struct{ Name, Type string }
		Data [][]any
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&r); err != nil {
		return nil, fmt.Errorf("JSONCompact answer: %v", err)
	}
	a := &answer{rows: r.Data}
	for _, m := range r.Meta {
		a.cols = append(a.cols, m.Name+" "+m.Type)
	}
	return a, nil
}

// chdbAnswer is the answer of a chDB query outcome.
func chdbAnswer(o chdbcheck.Outcome) (*answer, error) {
	a := &answer{cols: o.Columns}
	for _, raw := range o.Data {
		row := make([]any, len(raw))
		for i, v := range raw {
			d := json.NewDecoder(bytes.NewReader(v))
			d.UseNumber()
			if err := d.Decode(&row[i]); err != nil {
				return nil, err
			}
		}
		a.rows = append(a.rows, row)
	}
	return a, nil
}

// orderedBy tells whether a query's outermost SELECT has an ORDER BY: only
// then is the row order part of the answer. It looks for ORDER BY outside
// every parenthesis and string literal (a LIMIT n BY is not one).
func orderedBy(sql string) bool {
	depth := 0
	upper := strings.ToUpper(sql)
	for i := 0; i < len(upper); i++ {
		switch c := upper[i]; c {
		case '(':
			depth++
		case ')':
			depth--
		case '\'':
			for i++; i < len(upper) && upper[i] != '\''; i++ {
				if upper[i] == '\\' {
					i++
				}
			}
		default:
			if depth == 0 && strings.HasPrefix(upper[i:], "ORDER BY") && (i == 0 || !isIdent(upper[i-1])) {
				return true
			}
		}
	}
	return false
}

func isIdent(c byte) bool { return c == '_' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' }

// compare returns "" when got (chDB's) answers as want (18.16's), else what
// differs first. The normalisations, each for a difference of format and not
// of answer:
//   - Numbers are compared as numbers: 64-bit integers are JSON strings on
//     both (output_format_json_quote_64bit_integers), other integers exact
//     JSON numbers; a float (a JSON number with a point or an exponent) equals
//     another within 1e-9 of the larger, because the two engines sum and
//     average in different orders (and print floats with their own shortest
//     round trip).
//   - Dates and times are the text both write in the server's time zone,
//     UTC on both (devstack's config, TZ=UTC for chDB), compared exactly.
//   - Rows are compared in order when the query's outermost SELECT has an
//     ORDER BY, else as multisets (sorted the same way on both sides first).
//
// Column names and types must be equal as they are.
func compare(want, got *answer, ordered bool) string {
	if strings.Join(want.cols, ", ") != strings.Join(got.cols, ", ") {
		return fmt.Sprintf("columns differ:\n  18.16: %s\n  chDB:  %s", strings.Join(want.cols, ", "), strings.Join(got.cols, ", "))
	}
	w, g := want.rows, got.rows
	how := "in order (ORDER BY)"
	if !ordered {
		how = "as multisets (no ORDER BY)"
		w, g = sortedRows(w), sortedRows(g)
	}
	for i := 0; i < min(len(w), len(g)); i++ {
		if !equalValue(w[i], g[i]) {
			return fmt.Sprintf("rows compared %s, row %d of %d differs:\n  18.16: %s\n  chDB:  %s%s", how, i+1, len(w), text(w[i]), text(g[i]), whole(w, g))
		}
	}
	if len(w) != len(g) {
		return fmt.Sprintf("18.16 answered %d rows, chDB %d (the first %d equal); next row:\n  18.16: %s\n  chDB:  %s",
			len(w), len(g), min(len(w), len(g)), rowAt(w, len(g)), rowAt(g, len(w))) + whole(w, g)
	}
	return ""
}

// whole is both answers in full when they are short enough to read.
func whole(w, g [][]any) string {
	if len(w) > 12 || len(g) > 12 {
		return ""
	}
	var b strings.Builder
	for _, side := range []struct {
		name string
		rows [][]any
	}{{"18.16", w}, {"chDB", g}} {
		fmt.Fprintf(&b, "\n  all of %s's:", side.name)
		for _, r := range side.rows {
			fmt.Fprintf(&b, "\n    %s", text(r))
		}
	}
	return b.String()
}

func rowAt(rows [][]any, i int) string {
	if i < len(rows) {
		return text(rows[i])
	}
	return "(none)"
}

func text(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// sortedRows sorts rows by a key in which floats are rounded to 6
// significant digits, so that values equal within the tolerance sort alike.
func sortedRows(rows [][]any) [][]any {
	type keyed struct {
		key string
		row []any
	}
	ks := make([]keyed, len(rows))
	for i, r := range rows {
		ks[i] = keyed{text(rounded(r)), r}
	}
	sort.SliceStable(ks, func(i, j int) bool { return ks[i].key < ks[j].key })
	out := make([][]any, len(ks))
	for i, k := range ks {
		out[i] = k.row
	}
	return out
}

func rounded(v any) any {
	switch x := v.(type) {
	case json.Number:
		if isFloat(x) {
			f, _ := x.Float64()
			return strconv.FormatFloat(f, 'g', 6, 64)
		}
		return x
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = rounded(x[i])
		}
		return out
	}
	return v
}

func isFloat(n json.Number) bool { return strings.ContainsAny(string(n), ".eE") }

func equalValue(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if !isFloat(x) && !isFloat(y) {
			return x == y
		}
		f, err1 := x.Float64()
		g, err2 := y.Float64()
		return err1 == nil && err2 == nil && math.Abs(f-g) <= 1e-9*math.Max(math.Abs(f), math.Abs(g))
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any: // a named tuple, should an engine write one as an object
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if !equalValue(x[k], y[k]) {
				return false
			}
		}
		return true
	}
	return a == b // strings, bools, nulls
}

// bound is an internal statement with its values bound as clickhouse-go
// binds them.
func bound(t *testing.T, name string, args ...any) step {
	t.Helper()
	sql, err := bind(time.UTC, schemas.Internal(name), args...)
	if err != nil {
		t.Fatalf("schemas/internal/%s.sql: binding %v: %v", name, args, err)
	}
	return step{name: fmt.Sprintf("schemas/internal/%s.sql %v", name, args), sql: sql}
}

// insert is an internal INSERT with rows as VALUES (the packages send them
// as the driver's batch, which 18.16 and chDB store alike).
func insert(t *testing.T, name string, rows ...[]any) step {
	t.Helper()
	var vals []string
	for _, r := range rows {
		v, err := bind(time.UTC, "("+strings.TrimSuffix(strings.Repeat("?, ", len(r)), ", ")+")", r...)
		if err != nil {
			t.Fatal(err)
		}
		vals = append(vals, v)
	}
	return step{name: fmt.Sprintf("schemas/internal/%s.sql, %d rows", name, len(rows)), sql: schemas.Internal(name) + " VALUES " + strings.Join(vals, ", ")}
}

// subject is a visitor of the data set with a hashed email: the visitor and
// email statements (pixelctl forget's) have something to find.
func subject(t *testing.T, rows *chstore.Rows) (visitor, email, emailGoogle string) {
	t.Helper()
	ix := func(name string) int {
		for i, c := range event.TrackingColumns {
			if c == name {
				return i
			}
		}
		t.Fatalf("no tracking column %s", name)
		return 0
	}
	e, g := ix("email_sha256"), ix("email_google_sha256")
	for i := 0; i < rows.Len(); i++ {
		if rows.Tracking[e][i] != "" && rows.VisitorID[i] != "" {
			return rows.VisitorID[i], rows.Tracking[e][i], rows.Tracking[g][i]
		}
	}
	t.Fatal("the data set has no visitor with an email")
	return
}

// internalSteps are the plain-SQL internal statements (schemas/internal)
// that both servers run and whose answers are compared: the registry's,
// the console's, spend, users and tokens, destinations, erasures and the
// read side of pixelctl forget and retain, with example values. The
// inserts run after the data set's, the selects with the shipped queries.
//
// Left out: insert_events (the data set's insert, run first), the
// migration runner's own (create_database, create_migrations_table,
// insert_migration, select_migrations, select_version: they differ by
// design, 0003 being applied on one server only, and the version being
// the version), and the statements that change data (the deletes, drops
// and TTLs), which run on chDB alone after the comparison (featureSteps;
// pkg/privacy's tests run them on 18.16).
func internalSteps(t *testing.T, rows *chstore.Rows) (inserts, selects []step) {
	t.Helper()
	at := func(s string) time.Time {
		v, err := time.Parse(time.DateTime, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	created, updated := at("2026-10-01 08:00:00"), at("2026-11-20 17:30:00")
	inserts = []step{
		insert(t, "pixels_insert",
			[]any{"px-shop-eu", "Shop EU", []string{"shop.example.eu"}, "active", strings.Repeat("a", 64), strings.Repeat("b", 64), "Europe/Paris", uint32(10), "required", "truncate", "drop", "flag", created, created, uint64(1)},
			[]any{"px-shop-eu", "Shop EU", []string{"shop.example.eu", "www.shop.example.eu"}, "active", strings.Repeat("a", 64), strings.Repeat("b", 64), "Europe/Paris", uint32(15), "required", "truncate", "drop", "flag", created, updated, uint64(2)},
			[]any{"px-shop-us", "Shop US", []string{"shop.example.com"}, "active", strings.Repeat("c", 64), strings.Repeat("d", 64), "America/New_York", uint32(10), "granted", "keep", "flag", "flag", created, created, uint64(1)}),
		insert(t, "erasures_insert",
			[]any{updated, updated, "visitor_id", "v-erased", uint64(12), "ann"},
			[]any{updated, updated, "email_sha256", strings.Repeat("e", 64), uint64(3), "ann"}),
		insert(t, "ad_spend_insert",
			[]any{at("2026-11-03 00:00:00"), "google", "123-456", "Spring Sale", "987", "spring_sale", "EUR", int64(12_340_000), uint64(40), uint64(1200), strings.Repeat("f", 64), uint32(2), created, uint64(1)},
			[]any{at("2026-11-03 00:00:00"), "google", "123-456", "Spring Sale", "987", "spring_sale", "EUR", int64(15_000_000), uint64(41), uint64(1210), strings.Repeat("f", 64), uint32(2), updated, uint64(2)},
			[]any{at("2026-11-04 00:00:00"), "meta", "act_1", "Retargeting", "", "retargeting", "USD", int64(7_500_000), uint64(12), uint64(900), strings.Repeat("f", 64), uint32(3), created, uint64(1)}),
		insert(t, "users_insert",
			[]any{"ann", "viewer", "$argon2id$v=19$m=65536,t=1,p=2$x$y", uint8(0), created, created, uint64(1)},
			[]any{"ann", "admin", "$argon2id$v=19$m=65536,t=1,p=2$x$y", uint8(1), created, updated, uint64(2)}),
		insert(t, "api_tokens_insert",
			[]any{"abcdefghijkl", "ann", "export", strings.Repeat("9", 64), uint8(0), created, uint64(1)},
			[]any{"abcdefghijkl", "ann", "export", strings.Repeat("9", 64), uint8(1), created, uint64(2)}),
		insert(t, "destinations_insert",
			[]any{"dst-1", "px-shop-eu", "Meta", "meta", "active", []string{"Purchase"}, 0.0, `{"pixel_id":"1"}`, "v1:xyz", created, created, uint64(1)},
			[]any{"dst-1", "px-shop-eu", "Meta", "meta", "disabled", []string{"Purchase", "Lead"}, 1.5, `{"pixel_id":"1"}`, "v1:xyz", created, updated, uint64(2)},
			[]any{"dst-2", "px-shop-eu", "Google", "google", "active", []string{"Purchase"}, 0.0, `{}`, "", created, created, uint64(1)}),
	}
	visitor, email, emailGoogle := subject(t, rows)
	visitors := []string{visitor}
	cutoff := at("2026-11-09 00:00:00")
	selects = []step{
		bound(t, "pixels_select"),
		bound(t, "pixels_select_one", "px-shop-eu"),
		bound(t, "erasures_select_keys"),
		bound(t, "console_spend_rows", uint32(100)),
		bound(t, "console_spend_totals"),
		bound(t, "users_select"),
		bound(t, "users_select_one", "ann"),
		bound(t, "api_tokens_select"),
		bound(t, "api_tokens_select_user", "ann"),
		bound(t, "api_tokens_select_one", "abcdefghijkl"),
		bound(t, "destinations_select"),
		bound(t, "destinations_select_one", "dst-1"),
		bound(t, "destinations_select_pixel", "px-shop-eu"),
		bound(t, "console_install", "px-shop-eu", at("2026-11-10 00:00:00")),
		bound(t, "console_last_buckets"),
		bound(t, "console_last_hits", at("2026-11-10 00:00:00")),
		bound(t, "console_live_events", "px-shop-eu", at("2026-11-10 00:00:00"), at("2026-11-12 00:00:00"), at("2026-11-12 00:00:00"), "", uint32(50)),
		bound(t, "events_count_visitor", visitor),
		bound(t, "events_count_email", email, emailGoogle, visitors),
		bound(t, "visitors_of_email", email, emailGoogle, email, emailGoogle),
		bound(t, "sessions_count_visitors", visitors),
		bound(t, "page_views_count_visitors", visitors),
		bound(t, "visitors_count_visitors", visitors),
		bound(t, "sessions_count_expired", cutoff),
		bound(t, "page_views_count_expired", cutoff),
		bound(t, "visitors_count_expired", cutoff),
		bound(t, "daily_stats_groups_visitors", visitors),
		bound(t, "daily_stats_groups_email", email, emailGoogle, visitors),
		bound(t, "daily_stats_groups_counting", visitors, visitors),
		bound(t, "export_google_conversions", "px-shop-eu", "2026-11-02", "2026-11-15", "Europe/Paris", "2026-11-02", "2026-11-15", []string{"Purchase"}),
		bound(t, "partitions", "events"),
		bound(t, "partitions", "daily_stats"),
		bound(t, "select_column_exists", "events", "cookieless_id"),
		bound(t, "mutations", []string{"events", "sessions", "page_views", "visitors", "daily_stats"}),
	}
	return inserts, selects
}
