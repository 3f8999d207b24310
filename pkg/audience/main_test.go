package audience_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/event"
)

// The rules run against this test binary's private ClickHouse server
// (devstacktest); each test gets a fresh database.
func TestMain(m *testing.M) { os.Exit(devstacktest.RunTests(m)) }

// sha is the hex SHA-256 of s, as the tag stores a normalised identifier.
func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// The audiences' last day; the events happen at noon, days before it.
const lastDay = "2026-11-30"

var noon = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC).Unix()

// ev is one events row of the test population with the columns the rules read.
type ev struct {
	id, pixel, visitor, session, pageView, name string
	daysAgo                                     int   // before lastDay
	sec                                         int64 // after noon
	engagedMs                                   int64
	url, props, channel                         string
	contentIDs                                  []string
	consent, adUserData, adPersonalization      string
	gpc, bot                                    bool
	email, emailGoogle, phone, phoneGoogle, ext string
}

func insert(t *testing.T, conn chstore.Conn, evs []ev) {
	t.Helper()
	b := func(s string) []byte {
		if s == "" {
			return nil
		}
		return []byte(s)
	}
	var rows chstore.Rows
	for _, x := range evs {
		pixel := x.pixel
		if pixel == "" {
			pixel = "px"
		}
		channel := x.channel
		if channel == "" {
			channel = "browser"
		}
		ts := noon - int64(x.daysAgo)*86400 + x.sec
		e := event.Event{
			EventID: b(x.id), PixelID: b(pixel), VisitorID: b(x.visitor), SessionID: b(x.session), Name: b(x.name),
			TS: ts, ReceivedAt: ts, TSMs: ts * 1000, URL: b(x.url), Props: b(x.props),
			EngagedMs: x.engagedMs, GPC: x.gpc, IsBot: x.bot,
		}
		for _, id := range x.contentIDs {
			e.ContentIDs = append(e.ContentIDs, []byte(id))
		}
		e.Tracking[event.PageViewID] = b(x.pageView)
		e.Tracking[event.Channel] = b(channel)
		e.Tracking[event.Consent] = b(x.consent)
		e.Tracking[event.AdUserData] = b(x.adUserData)
		e.Tracking[event.AdPersonalization] = b(x.adPersonalization)
		e.Tracking[event.EmailSHA256] = b(x.email)
		e.Tracking[event.EmailGoogleSHA256] = b(x.emailGoogle)
		e.Tracking[event.PhoneSHA256] = b(x.phone)
		e.Tracking[event.PhoneGoogleSHA256] = b(x.phoneGoogle)
		e.Tracking[event.ExternalID] = b(x.ext)
		rows.Append(&e)
	}
	if err := chstore.Insert(devstacktest.Context(t), conn, &rows, ""); err != nil {
		t.Fatalf("insert the population: %v", err)
	}
}

// erase records an erasure request as pixelctl forget does (pkg/privacy),
// without deleting anything: the events stand for those that arrived after it.
func erase(t *testing.T, conn chstore.Conn, kind, key string) {
	t.Helper()
	b, err := conn.PrepareBatch(devstacktest.Context(t), "INSERT INTO erasures (key_kind, key)")
	if err == nil {
		if err = b.Append(kind, key); err == nil {
			err = b.Send()
		}
	}
	if err != nil {
		t.Fatalf("record an erasure: %v", err)
	}
}
