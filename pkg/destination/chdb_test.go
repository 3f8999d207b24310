package destination_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/chdbcheck"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/schemas"
)

// The Store's statements also run on current ClickHouse (chDB; the other
// tests run them on 18.16): two versions of a destination are inserted,
// and every read sees the newer one alone.
func TestStatementsOnCurrentClickHouse(t *testing.T) {
	ctx := devstacktest.Context(t)
	python, err := chdbcheck.Python(ctx)
	if errors.Is(err, chdbcheck.ErrUnavailable) && os.Getenv("CI") == "" {
		t.Skipf("%v\nThe check of current ClickHouse syntax is skipped; CI (CI=true) fails instead.", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	migrations, err := chstore.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var sts []chdbcheck.Statement
	for _, m := range migrations {
		for i, s := range m.Statements {
			sts = append(sts, chdbcheck.Statement{Name: fmt.Sprintf("migration %04d_%s, statement %d", m.Version, m.Name, i+1), SQL: s})
		}
	}
	for _, values := range []string{
		`('d1', 'shop', 'Meta shop', 'meta', 'active', ['Purchase'], 9.5, '{"dataset_id":"1"}', 'v1:AAAA', now(), now(), 1)`,
		`('d1', 'shop', 'Meta shop', 'meta', 'deleted', [], 0, '{"dataset_id":"1"}', '', now(), now(), 2)`,
	} {
		sts = append(sts, chdbcheck.Statement{Name: "destinations_insert", SQL: schemas.Internal("destinations_insert") + " VALUES " + values})
	}
	queries := []struct{ name, arg string }{
		{"destinations_select", ""},
		{"destinations_select_pixel", "'shop'"},
		{"destinations_select_one", "'d1'"},
	}
	first := len(sts)
	for _, q := range queries {
		sts = append(sts, chdbcheck.Statement{Name: q.name, SQL: strings.Replace(schemas.Internal(q.name), "?", q.arg, 1), Query: true})
	}
	sts = append(sts, chdbcheck.Statement{Name: "newest status", SQL: "SELECT status FROM destinations FINAL", Query: true})
	version, outcomes, err := chdbcheck.Run(ctx, python, "pixel", sts)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outcomes {
		if o.Error != "" {
			t.Errorf("ClickHouse %s (chDB): %s:\n%s", version, o.Name, o.Error)
		}
	}
	if t.Failed() {
		return
	}
	for i, q := range queries {
		if o := outcomes[first+i]; o.Rows != 1 || string(o.First) != `"d1"` {
			t.Errorf("ClickHouse %s: %s gave %d rows, first %s; want 1, \"d1\"", version, q.name, o.Rows, o.First)
		}
	}
	if o := outcomes[len(outcomes)-1]; o.Rows != 1 || string(o.First) != `"deleted"` {
		t.Errorf("ClickHouse %s: the newest version: %d rows, %s", version, o.Rows, o.First)
	}
}
