package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/bench/querybench"
)

// TestSmallRun runs the whole harness on a small data set against a private
// ClickHouse: every shipped query runs without error, each run is found in
// system.query_log, and both result files are written. It checks the shape
// of the results, never the figures.
func TestSmallRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private ClickHouse")
	}
	cfg, fs := newConfig()
	out := t.TempDir()
	if err := fs.Parse([]string{"-events", "20000", "-runs", "2", "-out", out}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir, failed, err := run(ctx, cfg, io.Discard)
	if err != nil || failed != 0 {
		b, _ := os.ReadFile(filepath.Join(dir, "results.md"))
		t.Fatalf("run: %v, %d queries failed\n%s", err, failed, b)
	}
	data, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res Results
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	shipped, _ := querybench.Shipped()
	if len(res.Queries) != len(shipped) {
		t.Fatalf("%d queries in the results, %d shipped", len(res.Queries), len(shipped))
	}
	for _, q := range res.Queries {
		if len(q.Runs) != 2 || q.Runs[0].QueryID == "" || q.Stat.PeakBytes == 0 || q.Stat.ReadRows == 0 || q.Source == "" {
			t.Errorf("%s: runs %+v, stat %+v, source %q: want two runs from the query log, memory and rows read", q.Name, q.Runs, q.Stat, q.Source)
		}
	}
	if res.Events < 15000 || res.InsertS <= 0 || res.SpendRows == 0 {
		t.Errorf("inserted %d events in %.2f s and %d rows of spend", res.Events, res.InsertS, res.SpendRows)
	}
	var events *Table
	for i := range res.Tables {
		if res.Tables[i].Name == "events" {
			events = &res.Tables[i]
		}
	}
	if events == nil || events.Rows == 0 || events.Bytes == 0 {
		t.Errorf("the events table's size is missing: %+v", res.Tables)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "results.md"))
	for _, q := range shipped {
		if !strings.Contains(string(md), "| "+q.Name+" |") {
			t.Errorf("results.md has no row for %s", q.Name)
		}
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-events", "10"},
		{"-runs", "0"},
		{"-max-memory", "100", "-external-group-by", "0"},
		{"-max-memory", "2000000", "-external-group-by", "3000000"},
		{"-param", "novalue"},
		{"extra"},
	} {
		_, fs := newConfig()
		if err := fs.Parse(args); err == nil {
			t.Errorf("%q: accepted, want an error", args)
		}
	}
	cfg, fs := newConfig()
	if err := fs.Parse([]string{"-param", "days=7,audiences/purchasers.days=90"}); err != nil {
		t.Fatal(err)
	}
	o, _ := cfg.overrides()
	if o["days"] != "7" || o["audiences/purchasers.days"] != "90" || cfg.Events != 10_000_000 || cfg.Runs != 5 {
		t.Errorf("overrides %v, events %d, runs %d", o, cfg.Events, cfg.Runs)
	}
}
