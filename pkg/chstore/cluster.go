package chstore

import (
	"fmt"
	"regexp"
	"strings"
)

// The cluster schema. On a ClickHouse cluster (Options.Cluster) Migrate
// applies the same migration files, each statement rewritten by
// clusterStatements into its ON CLUSTER form:
//
//   - a sharded table <t> becomes <t>_local, a Replicated*MergeTree at
//     /clickhouse/tables/{shard}/<database>/<t>_local, and <t>, a Distributed
//     table over it sharded by shardingKey[<t>]: queries read <t> unchanged;
//   - a global table keeps its name and becomes a Replicated*MergeTree at the
//     shard-independent /clickhouse/tables/all/<database>/<t>: every node
//     holds every row;
//   - a materialized view reads <t>_local and writes the local table of its
//     target, on every node, so each shard aggregates its own events;
//   - a backfill (INSERT INTO <t> ... SELECT ... FROM events) runs on one
//     replica of each shard, local table to local table;
//   - an ALTER of a sharded table runs ON CLUSTER on <t>_local and on every
//     node, one at a time, on the Distributed <t>.
//
// Every table a migration names must be in one of the two lists: a new
// table is a decision made here.
var (
	// shardingKey is the Distributed sharding key of each sharded table: by
	// visitor, so that one visitor's events, sessions, page views and
	// profile stay on one shard. daily_stats has no visitor; its rows are
	// written only by its view on each shard, so its key never places a row.
	shardingKey = map[string]string{
		"events":      "cityHash64(visitor_id)",
		"sessions":    "cityHash64(visitor_id)",
		"page_views":  "cityHash64(visitor_id)",
		"visitors":    "cityHash64(visitor_id)",
		"daily_stats": "cityHash64(pixel_id)",
	}
	globalTables = map[string]bool{
		"pixels": true, "erasures": true, "ad_spend": true, "users": true,
		"api_tokens": true, "destinations": true, "schema_migrations": true,
	}
	// views are plain views: created on every node over the Distributed
	// tables.
	views = map[string]bool{"events_unique": true}
)

// ShardedTables are the tables that are sharded on a cluster.
func ShardedTables() []string {
	var out []string
	for t := range shardingKey {
		out = append(out, t)
	}
	return out
}

// clusterStatement is one statement of a migration in its cluster form.
type clusterStatement struct {
	SQL      string
	PerShard bool // run on one replica of each shard (not ON CLUSTER)
	PerNode  bool // run on every node (not ON CLUSTER)
}

var (
	reCreateDatabase = regexp.MustCompile(`(?is)^CREATE\s+DATABASE\s+IF\s+NOT\s+EXISTS\s+(\w+)\s*$`)
	reCreateTable    = regexp.MustCompile(`(?is)^CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+(\w+)\s*(\(.*)$`)
	reEngine         = regexp.MustCompile(`(?is)ENGINE\s*=\s*(\w*)MergeTree\(([^)]*)\)`)
	reCreateMV       = regexp.MustCompile(`(?is)^CREATE\s+MATERIALIZED\s+VIEW\s+IF\s+NOT\s+EXISTS\s+(\w+)\s+TO\s+(\w+)\s+AS\s+(SELECT\s.*)$`)
	reCreateView     = regexp.MustCompile(`(?is)^CREATE\s+VIEW\s+IF\s+NOT\s+EXISTS\s+(\w+)\s+AS\s+(SELECT\s.*)$`)
	reDropTable      = regexp.MustCompile(`(?is)^DROP\s+TABLE\s+IF\s+EXISTS\s+(\w+)\s*$`)
	reAlter          = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+(\w+)\s+(.*)$`)
	reInsertSelect   = regexp.MustCompile(`(?is)^INSERT\s+INTO\s+(\w+)\s*(\([^)]*\))\s*(SELECT\s.*)$`)
	reFrom           = regexp.MustCompile(`(?i)\bFROM\s+(\w+)\b`)
)

// clusterStatements rewrites one statement of a migration file for cluster
// on database db (both checked identifiers). A statement of a kind it does
// not know, or naming a table of neither list, is an error: it would need a
// decision, not a guess.
func clusterStatements(st, cluster, db string) ([]clusterStatement, error) {
	on := " ON CLUSTER " + cluster
	q := func(t string) string { return db + "." + t }
	one := func(s string) []clusterStatement { return []clusterStatement{{SQL: s}} }
	if reCreateDatabase.MatchString(st) {
		return one("CREATE DATABASE IF NOT EXISTS " + db + on), nil
	}
	if m := reCreateTable.FindStringSubmatch(st); m != nil {
		name, body := m[1], m[2]
		e := reEngine.FindStringSubmatchIndex(body)
		if e == nil {
			return nil, fmt.Errorf("table %s: only *MergeTree tables have a cluster form", name)
		}
		kind, args := body[e[2]:e[3]], strings.TrimSpace(body[e[4]:e[5]])
		engine := func(path string) string {
			a := "'" + path + "', '{replica}'"
			if args != "" {
				a += ", " + args
			}
			return body[:e[0]] + "ENGINE = Replicated" + kind + "MergeTree(" + a + ")" + body[e[1]:]
		}
		if key, ok := shardingKey[name]; ok {
			local := name + "_local"
			return []clusterStatement{
				{SQL: "CREATE TABLE IF NOT EXISTS " + q(local) + on + "\n" + engine("/clickhouse/tables/{shard}/"+db+"/"+local)},
				{SQL: "CREATE TABLE IF NOT EXISTS " + q(name) + on + " AS " + q(local) + "\nENGINE = Distributed(" + cluster + ", " + db + ", " + local + ", " + key + ")"},
			}, nil
		}
		if globalTables[name] {
			return one("CREATE TABLE IF NOT EXISTS " + q(name) + on + "\n" + engine("/clickhouse/tables/all/"+db+"/"+name)), nil
		}
		return nil, fmt.Errorf("table %s is neither sharded nor global; add it to pkg/chstore's cluster.go", name)
	}
	if m := reCreateMV.FindStringSubmatch(st); m != nil {
		to := m[2]
		if _, ok := shardingKey[to]; !ok {
			return nil, fmt.Errorf("materialized view %s writes %s, which is not sharded", m[1], to)
		}
		sel, err := localFrom(m[3], db)
		if err != nil {
			return nil, fmt.Errorf("materialized view %s: %w", m[1], err)
		}
		return one("CREATE MATERIALIZED VIEW IF NOT EXISTS " + q(m[1]) + on + " TO " + q(to+"_local") + " AS\n" + sel), nil
	}
	if m := reCreateView.FindStringSubmatch(st); m != nil {
		if !views[m[1]] {
			return nil, fmt.Errorf("view %s is not in pkg/chstore's cluster.go", m[1])
		}
		sel, err := qualifyFrom(m[2], db)
		if err != nil {
			return nil, fmt.Errorf("view %s: %w", m[1], err)
		}
		return one("CREATE VIEW IF NOT EXISTS " + q(m[1]) + on + " AS\n" + sel), nil
	}
	if m := reDropTable.FindStringSubmatch(st); m != nil {
		if !views[m[1]] {
			return nil, fmt.Errorf("DROP TABLE %s: only views are dropped by migrations", m[1])
		}
		return one("DROP TABLE IF EXISTS " + q(m[1]) + on), nil
	}
	if m := reAlter.FindStringSubmatch(st); m != nil {
		name, rest := m[1], m[2]
		if _, ok := shardingKey[name]; ok {
			out := []clusterStatement{{SQL: "ALTER TABLE " + q(name+"_local") + on + " " + rest}}
			// The Distributed table needs the same columns; settings,
			// mutations and the rest belong to the local table only. 18.16 refuses an ALTER ON
			// CLUSTER of a table that is not replicated when the cluster's
			// shards are (internal_replication), so each node alters its
			// own Distributed table.
			if regexp.MustCompile(`(?i)^(ADD|DROP|MODIFY)\s+COLUMN\s`).MatchString(rest) {
				out = append(out, clusterStatement{SQL: "ALTER TABLE " + q(name) + " " + rest, PerNode: true})
			}
			return out, nil
		}
		if globalTables[name] {
			return one("ALTER TABLE " + q(name) + on + " " + rest), nil
		}
		return nil, fmt.Errorf("ALTER TABLE %s: table is neither sharded nor global", name)
	}
	if m := reInsertSelect.FindStringSubmatch(st); m != nil {
		if _, ok := shardingKey[m[1]]; !ok {
			return nil, fmt.Errorf("INSERT INTO %s: only sharded tables are backfilled", m[1])
		}
		sel, err := localFrom(m[3], db)
		if err != nil {
			return nil, fmt.Errorf("INSERT INTO %s: %w", m[1], err)
		}
		return []clusterStatement{{SQL: "INSERT INTO " + q(m[1]+"_local") + " " + m[2] + "\n" + sel, PerShard: true}}, nil
	}
	return nil, fmt.Errorf("no cluster form for %.60q", st)
}

// localFrom makes a view's or backfill's SELECT read the local table of the
// sharded table it names, and a column qualified by the table's name
// (events.page_view_id) the local table's column. (A table alias, FROM
// db.events_local AS events, is lost on 18.16's way through the distributed
// DDL queue.)
func localFrom(sel, db string) (string, error) {
	var err error
	var tables []string
	out := reFrom.ReplaceAllStringFunc(sel, func(s string) string {
		t := reFrom.FindStringSubmatch(s)[1]
		if _, ok := shardingKey[t]; !ok {
			err = fmt.Errorf("it reads %s, which is not sharded", t)
			return s
		}
		tables = append(tables, t)
		return "FROM " + db + "." + t + "_local"
	})
	for _, t := range tables {
		out = regexp.MustCompile(`\b`+t+`\.(\w)`).ReplaceAllString(out, t+"_local.$1")
	}
	return out, err
}

// qualifyFrom names the database of the tables a plain view reads (the
// Distributed tables, or global ones).
func qualifyFrom(sel, db string) (string, error) {
	var err error
	out := reFrom.ReplaceAllStringFunc(sel, func(s string) string {
		t := reFrom.FindStringSubmatch(s)[1]
		if _, ok := shardingKey[t]; !ok && !globalTables[t] {
			err = fmt.Errorf("it reads %s, which is neither sharded nor global", t)
			return s
		}
		return "FROM " + db + "." + t
	})
	return out, err
}
