package privacy_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/privacy"
	"github.com/pixel-pipeline/pixel/schemas"
)

func TestMain(m *testing.M) { os.Exit(devstacktest.RunTests(m)) }

func open(t *testing.T) chstore.Conn {
	t.Helper()
	o := devstacktest.Database(t)
	conn, err := chstore.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func insert(t *testing.T, conn chstore.Conn, evs ...*event.Event) {
	t.Helper()
	var rows chstore.Rows
	for _, e := range evs {
		rows.Append(e)
	}
	if err := chstore.Insert(context.Background(), conn, &rows, ""); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, conn chstore.Conn, where string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM events WHERE "+where, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestForgetVisitor(t *testing.T) {
	ctx := context.Background()
	conn := open(t)
	now := time.Now().Unix()
	var evs []*event.Event
	for i := range 6 {
		v := []string{"v-forget", "v-keep"}[i%2]
		// Two months: the deletion spans partitions.
		at := now - int64(i/4)*40*86400
		evs = append(evs, &event.Event{EventID: []byte(fmt.Sprint("e", i)), PixelID: []byte("px"), VisitorID: []byte(v), Name: []byte("PageView"), TS: at, ReceivedAt: at})
	}
	insert(t, conn, evs...)

	e, err := privacy.Forget(ctx, conn, privacy.Subject{VisitorID: "v-forget"}, "alice@ops")
	if err != nil {
		t.Fatal(err)
	}
	if e.RowsBefore != 3 || e.KeyKind != privacy.KindVisitor || e.Key != "v-forget" || e.RequestedBy != "alice@ops" || e.FinishedAt.Before(e.RequestedAt) {
		t.Errorf("erasure %+v", e)
	}
	if n := count(t, conn, "visitor_id = 'v-forget'"); n != 0 {
		t.Errorf("%d rows of the forgotten visitor remain", n)
	}
	if n := count(t, conn, "visitor_id = 'v-keep'"); n != 3 {
		t.Errorf("%d rows of the other visitor remain, want 3", n)
	}
	var kind, key, by string
	var before uint64
	if err := conn.QueryRow(ctx, "SELECT key_kind, key, rows_before, requested_by FROM erasures").Scan(&kind, &key, &before, &by); err != nil {
		t.Fatal(err)
	}
	if kind != "visitor_id" || key != "v-forget" || before != 3 || by != "alice@ops" {
		t.Errorf("audit row %s %s %d %s", kind, key, before, by)
	}

	// Nobody left to forget: it still finishes and is recorded.
	if e, err := privacy.Forget(ctx, conn, privacy.Subject{VisitorID: "v-forget"}, "alice@ops"); err != nil || e.RowsBefore != 0 {
		t.Fatalf("second forget: %+v, %v", e, err)
	}
	for _, s := range []privacy.Subject{{}, {VisitorID: "a", EmailSHA256: strings.Repeat("a", 64)}, {EmailSHA256: "AB"}} {
		if _, err := privacy.Forget(ctx, conn, s, "x"); err == nil {
			t.Errorf("Forget(%+v) accepted", s)
		}
	}
	if _, err := privacy.Forget(ctx, conn, privacy.Subject{VisitorID: "v"}, " "); err == nil {
		t.Error("Forget without requested-by accepted")
	}
}

func TestForgetEmail(t *testing.T) {
	ctx := context.Background()
	conn := open(t)
	now := time.Now().Unix()
	insert(t, conn,
		&event.Event{EventID: []byte("a"), VisitorID: []byte("v1"), Name: []byte("Purchase"), TS: now, ReceivedAt: now},
		&event.Event{EventID: []byte("b"), VisitorID: []byte("v2"), Name: []byte("Purchase"), TS: now, ReceivedAt: now},
		&event.Event{EventID: []byte("c"), VisitorID: []byte("v3"), Name: []byte("Purchase"), TS: now, ReceivedAt: now},
	)
	s, err := privacy.EmailSubject("  Jane.Doe@GMail.com ")
	if err != nil {
		t.Fatal(err)
	}
	// v1 carries the Meta hash, v2 only the Google one (a server sent it):
	// both are hers. v3 is someone else.
	for _, u := range []string{
		"ALTER TABLE events UPDATE email_sha256 = '" + s.EmailSHA256 + "' WHERE event_id = 'a'",
		"ALTER TABLE events UPDATE email_google_sha256 = '" + s.EmailGoogleSHA256 + "' WHERE event_id = 'b'",
		"ALTER TABLE events UPDATE email_sha256 = '" + strings.Repeat("0", 64) + "' WHERE event_id = 'c'",
	} {
		if err := conn.Exec(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for count(t, conn, "email_sha256 != '' OR email_google_sha256 != ''") != 3 {
		if time.Now().After(deadline) {
			t.Fatal("the test's UPDATE mutations did not finish")
		}
		time.Sleep(20 * time.Millisecond)
	}
	e, err := privacy.Forget(ctx, conn, s, "dpo")
	if err != nil {
		t.Fatal(err)
	}
	if e.RowsBefore != 2 || e.KeyKind != privacy.KindEmail || e.Key != s.EmailSHA256 {
		t.Errorf("erasure %+v", e)
	}
	var left []string
	rows, err := conn.Query(ctx, "SELECT event_id FROM events ORDER BY event_id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		left = append(left, id)
	}
	rows.Close()
	if !reflect.DeepEqual(left, []string{"c"}) {
		t.Errorf("left %q, want [c]", left)
	}
}

func TestEmailSubject(t *testing.T) {
	h := func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) }
	for _, tc := range []struct{ in, meta, google string }{
		{" Jane.Doe@GMail.com\n", "jane.doe@gmail.com", "janedoe@gmail.com"},
		{"j.d@googlemail.com", "j.d@googlemail.com", "jd@googlemail.com"},
		{"J.D@Example.org", "j.d@example.org", "j.d@example.org"},
		{"ÉLODIE@exemple.fr", "élodie@exemple.fr", "élodie@exemple.fr"},
	} {
		s, err := privacy.EmailSubject(tc.in)
		if err != nil || s.EmailSHA256 != h(tc.meta) || s.EmailGoogleSHA256 != h(tc.google) || s.VisitorID != "" {
			t.Errorf("EmailSubject(%q) = %+v, %v; want hashes of %q and %q", tc.in, s, err, tc.meta, tc.google)
		}
	}
	if _, err := privacy.EmailSubject("nobody"); err == nil {
		t.Error("an address without @ was accepted")
	}
}

func TestRetainDropsOldPartitions(t *testing.T) {
	ctx := context.Background()
	conn := open(t)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var evs []*event.Event
	for i, day := range []string{"2026-05-31", "2026-08-01", "2026-08-31", "2026-09-01", "2026-11-30", "2026-12-01"} {
		d, _ := time.Parse(time.DateOnly, day)
		at := d.Add(12 * time.Hour).Unix()
		evs = append(evs, &event.Event{EventID: []byte(fmt.Sprint(i)), Name: []byte("PageView"), TS: at, ReceivedAt: at})
	}
	insert(t, conn, evs...)

	r, err := privacy.Retain(ctx, conn, 3, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Server.AtLeast(privacy.TTLVersion) {
		t.Skipf("ClickHouse %v has TTLs; this test is for the partition path", r.Server)
	}
	// Three months back from 2026-12-01 is 2026-09-01: August ended then.
	if want := []string{"202605", "202608"}; r.TTL || !reflect.DeepEqual(r.Dropped, want) {
		t.Errorf("dropped %q, want %q (%+v)", r.Dropped, want, r)
	}
	if want := []string{"202609", "202611", "202612"}; !reflect.DeepEqual(r.Kept, want) {
		t.Errorf("kept %q, want %q", r.Kept, want)
	}
	if n := count(t, conn, "1"); n != 3 {
		t.Errorf("%d rows left, want 3", n)
	}
	for _, m := range []int{0, -1, 1201} {
		if _, err := privacy.Retain(ctx, conn, m, now); err == nil {
			t.Errorf("Retain(%d months) accepted", m)
		}
	}
}

func TestExpired(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		month  string
		months int
		want   bool
	}{
		{"202610", 1, true}, {"202611", 1, false}, {"202608", 3, true}, {"202609", 3, false},
		{"202512", 11, true}, {"202601", 11, false}, {"201001", 1200, false}, {"202612", 1, false},
	} {
		m, _ := time.Parse("200601", tc.month)
		if got := privacy.Expired(m, tc.months, now); got != tc.want {
			t.Errorf("Expired(%s, %d) = %v, want %v", tc.month, tc.months, got, tc.want)
		}
	}
}

// The TTL statement cannot run on 18.16 (no TTLs): check its text, and
// that its expression is valid for the events table there.
func TestTTLStatement(t *testing.T) {
	b, err := schemas.FS.ReadFile("internal/events_modify_ttl.sql")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := schemas.Statement(string(b)), "ALTER TABLE events MODIFY TTL received_at + INTERVAL ? MONTH"; got != want {
		t.Fatalf("statement %q, want %q", got, want)
	}
	conn := open(t)
	var at time.Time
	if err := conn.QueryRow(context.Background(), "SELECT received_at + INTERVAL ? MONTH FROM (SELECT toDateTime('2026-01-31 00:00:00') AS received_at)", 13).Scan(&at); err != nil {
		t.Fatal(err)
	}
	if at.Year() != 2027 || at.Month() != time.February {
		t.Errorf("received_at + INTERVAL 13 MONTH = %v", at)
	}
}
