package audience_test

import (
	"reflect"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/audience"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// engaged-no-purchase reads a browser event only when no server copy of it
// is stored, rather than grouping every event by id: the server's copy must
// still win, as in the other rules.
func TestEngagedServerCopies(t *testing.T) {
	conn := devstacktest.Open(t, devstacktest.Database(t))
	insert(t, conn, []ev{
		// The browser's purchase is engcopy's; its server copy names another
		// visitor, who bought: engcopy made no purchase.
		{id: "h1", visitor: "engcopy", session: "cs1", pageView: "cpv1", name: "PageEngagement", daysAgo: 3, engagedMs: 70000},
		{id: "h1", visitor: "engcopy", session: "cs1", pageView: "cpv1", name: "PageEngagement", daysAgo: 3, engagedMs: 70000}, // a replay
		{id: "cp1", visitor: "engcopy", session: "cs1", pageView: "cpv1", name: "Purchase", daysAgo: 3, sec: 1},
		{id: "cp1", visitor: "engcopyserver", name: "Purchase", daysAgo: 3, sec: 5, channel: "server"},
		// A heartbeat with a server copy: the server's engaged time counts
		// (10 s), not the browser's 90 s.
		{id: "h2", visitor: "engcopy2", session: "cs2", pageView: "cpv2", name: "PageEngagement", daysAgo: 3, engagedMs: 90000},
		{id: "h2", visitor: "engcopy2", session: "cs2", pageView: "cpv2", name: "PageEngagement", daysAgo: 3, engagedMs: 10000, channel: "server"},
	})
	ctx := devstacktest.Context(t)
	for rule, want := range map[string]map[string]member{
		"engaged-no-purchase": {"engcopy": {"70", "", ""}},
		"purchasers":          {"engcopyserver": {"1|2026-11-27 12:00:05", "", ""}},
	} {
		a, err := audience.Run(ctx, conn, rule, map[string]string{"pixel": "px", "to": lastDay, "tz": "UTC"})
		if err != nil {
			t.Fatal(err)
		}
		if got := members(a); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %v\nwant %v", rule, got, want)
		}
	}
}
