// Command dataset loads pkg/dataset's generated population into a
// ClickHouse: the data set every report and audience is tested against and
// the README's examples come from. It migrates the database, registers the
// data set's pixels (px-shop-eu in Paris time, px-shop-us in New York time),
// inserts about -events events straight into pixel.events (the rollups fill
// on insert) and the generated ad spend into pixel.ad_spend. Run from the
// checkout while make run runs, it loads make run's ClickHouse, so that
//
//	go run ./bench/cmd/dataset -events 1000000
//	bin/pixelctl report cpa -pixel px-shop-eu -from 2026-11-09 -to 2026-11-15
//
// answer as the README shows. The same seed gives the same events; loading
// twice stores every event twice, which every report counts once.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/dataset"
	"github.com/pixel-pipeline/pixel/pkg/flagenv"
	"github.com/pixel-pipeline/pixel/pkg/rundir"
)

func main() {
	o := chstore.DefaultOptions()
	var events, batch int
	var seed int64
	fs := flagenv.New("dataset", "Loads the generated data set of pkg/dataset into a ClickHouse (make run's, from the checkout): "+
		"migrates, registers its pixels,\ninserts about -events events and its ad spend.")
	fs.ClickHouse(&o.Addr, &o.Database, &o.User, &o.Password)
	fs.Fallback(rundir.Env(rundir.Default), rundir.From)
	fs.Int(&events, "events", "DATASET_EVENTS", 1_000_000, "about how many events to generate and insert")
	fs.Int64(&seed, "seed", "DATASET_SEED", 1, "seed of the data set; the same seed gives the same events")
	fs.Int(&batch, "batch", "DATASET_BATCH", dataset.DefaultBatch, "events per insert")
	fs.ParseOrExit(os.Args[1:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := load(ctx, o, events, uint64(seed), batch); err != nil {
		fmt.Fprintln(os.Stderr, "dataset:", err)
		os.Exit(1)
	}
}

func load(ctx context.Context, o chstore.Options, events int, seed uint64, batch int) error {
	if _, err := chstore.Migrate(ctx, o); err != nil {
		return err
	}
	conn, err := chstore.Open(ctx, o)
	if err != nil {
		return err
	}
	defer conn.Close()
	cfg := dataset.DefaultConfig(seed, 0)
	cfg.Visitors = dataset.VisitorsFor(cfg, events)
	if err := dataset.Register(ctx, conn, cfg.Pixels); err != nil {
		return err
	}
	pop := dataset.Generate(cfg)
	start := time.Now()
	n, err := dataset.Insert(ctx, conn, pop, batch)
	if err != nil {
		return err
	}
	took := time.Since(start)
	rows, err := dataset.LoadSpend(ctx, conn, pop, time.Now())
	if err != nil {
		return err
	}
	first, last := cfg.Start, cfg.Start.AddDate(0, 0, cfg.Days-1)
	fmt.Printf("inserted %d events of %d visitors in %.1f s (%.0f events/s) and %d rows of ad spend into %s at %v\n",
		n, cfg.Visitors, took.Seconds(), float64(n)/took.Seconds(), rows, o.Database, o.Addr)
	fmt.Printf("pixels:")
	for _, p := range cfg.Pixels {
		fmt.Printf(" %s (%s)", p.ID, p.TimeZone)
	}
	fmt.Printf("; days %s to %s\n", first.Format(time.DateOnly), last.Format(time.DateOnly))
	return nil
}
