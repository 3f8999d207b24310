package chstore

import (
	"strings"
	"testing"
)

// Every statement of every embedded migration has a cluster form, and the
// forms are the documented ones.
func TestClusterStatements(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		for _, st := range m.Statements {
			cs, err := clusterStatements(st, "pixel", "db")
			if err != nil || len(cs) == 0 {
				t.Errorf("migration %04d_%s: %v", m.Version, m.Name, err)
			}
			for _, c := range cs {
				if !c.PerShard && !c.PerNode && !strings.Contains(c.SQL, " ON CLUSTER pixel") {
					t.Errorf("migration %04d_%s: %.80q runs on one node only", m.Version, m.Name, c.SQL)
				}
			}
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"CREATE TABLE IF NOT EXISTS events\n(\n    a String\n)\nENGINE = ReplacingMergeTree()\nORDER BY a",
			"CREATE TABLE IF NOT EXISTS db.events_local ON CLUSTER pixel\n(\n    a String\n)\nENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/events_local', '{replica}')\nORDER BY a" +
				"|CREATE TABLE IF NOT EXISTS db.events ON CLUSTER pixel AS db.events_local\nENGINE = Distributed(pixel, db, events_local, cityHash64(visitor_id))"},
		{"CREATE TABLE IF NOT EXISTS pixels (a String, version UInt64) ENGINE = ReplacingMergeTree(version) ORDER BY a",
			"CREATE TABLE IF NOT EXISTS db.pixels ON CLUSTER pixel\n(a String, version UInt64) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/db/pixels', '{replica}', version) ORDER BY a"},
		{"CREATE MATERIALIZED VIEW IF NOT EXISTS v_mv TO page_views AS SELECT if(empty(events.p), 1, 0) AS p FROM events WHERE 1",
			"CREATE MATERIALIZED VIEW IF NOT EXISTS db.v_mv ON CLUSTER pixel TO db.page_views_local AS\nSELECT if(empty(events_local.p), 1, 0) AS p FROM db.events_local WHERE 1"},
		{"ALTER TABLE events ADD COLUMN IF NOT EXISTS x UInt8",
			"ALTER TABLE db.events_local ON CLUSTER pixel ADD COLUMN IF NOT EXISTS x UInt8|ALTER TABLE db.events ADD COLUMN IF NOT EXISTS x UInt8"},
		{"INSERT INTO visitors (a) SELECT a FROM events GROUP BY a",
			"INSERT INTO db.visitors_local (a)\nSELECT a FROM db.events_local GROUP BY a"},
		{"DROP TABLE IF EXISTS events_unique", "DROP TABLE IF EXISTS db.events_unique ON CLUSTER pixel"},
		{"CREATE TABLE IF NOT EXISTS newtable (a String) ENGINE = MergeTree() ORDER BY a", "error"},
		{"ALTER TABLE events DELETE WHERE 1", "ALTER TABLE db.events_local ON CLUSTER pixel DELETE WHERE 1"},
	} {
		cs, err := clusterStatements(tc.in, "pixel", "db")
		var got []string
		for _, c := range cs {
			got = append(got, c.SQL)
		}
		g := strings.Join(got, "|")
		if err != nil {
			g = "error"
		}
		if g != tc.want {
			t.Errorf("clusterStatements(%q)\n got %q\nwant %q", tc.in, g, tc.want)
		}
	}
}
