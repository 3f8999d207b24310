// Command console is the pixel web console: sign in, create pixels and copy
// their snippets, watch hits arrive, read the dashboard, export audiences
// and upload ad spend; and the same as a JSON API under /api/ for scripts.
// It reads and writes the pipeline's ClickHouse through the packages
// pixelctl uses, so both give the same answers.
package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
	_ "time/tzdata" // pixel time zones are checked by name also where the system has no zoneinfo

	"github.com/rs/zerolog"

	"github.com/pixel-pipeline/pixel/pkg/admin"
	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/console"
	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/flagenv"
	"github.com/pixel-pipeline/pixel/pkg/logging"
	"github.com/pixel-pipeline/pixel/pkg/metrics"
	"github.com/pixel-pipeline/pixel/pkg/rundir"
)

type config struct {
	console         console.Options
	adminAddr       string
	ch              chstore.Options
	shutdownTimeout time.Duration
	log             logging.Options
	// destinationKeyFile is the key file that seals destinations'
	// credentials, shared with the forwarder and pixelctl; "" leaves the
	// destination pages unavailable (they say so).
	destinationKeyFile string
}

// newConfig returns the console's settings at their defaults and the flags
// that change them.
func newConfig() (*config, *flagenv.Set) {
	c := &config{console: console.DefaultOptions(), ch: chstore.DefaultOptions(), log: logging.DefaultOptions()}
	o := &c.console
	fs := flagenv.New("console", "The pixel web console and its JSON API (/api/). Users are created with pixelctl user create.")
	fs.String(&o.Addr, "addr", "CONSOLE_ADDR", o.Addr, "listen address of the console's pages and API")
	fs.String(&c.adminAddr, "admin-addr", "CONSOLE_ADMIN_ADDR", "127.0.0.1:8089", "admin listen address: /metrics, /healthz, /readyz, /debug/pprof/")
	fs.String(&o.CollectorURL, "collector-url", "CONSOLE_COLLECTOR_URL", o.CollectorURL, "the collector's public base URL, as sites reach it: written into the snippets")
	fs.ClickHouse(&c.ch.Addr, &c.ch.Database, &c.ch.User, &c.ch.Password)
	fs.Fallback(rundir.Env(rundir.Default), rundir.From)
	fs.String(&o.TLSCert, "tls-cert", "CONSOLE_TLS_CERT", "", "PEM certificate file: serve HTTPS (with -tls-key); session cookies are then Secure")
	fs.String(&o.TLSKey, "tls-key", "CONSOLE_TLS_KEY", "", "PEM private key file of -tls-cert")
	fs.Duration(&o.SessionIdle, "session-idle", "CONSOLE_SESSION_IDLE", o.SessionIdle, "a session ends this long after its last request")
	fs.Int(&o.LoginLimit, "login-limit", "CONSOLE_LOGIN_LIMIT", o.LoginLimit, "wrong passwords per name, and per client address, before sign-in is refused for the rest of -login-window")
	fs.Duration(&o.LoginWindow, "login-window", "CONSOLE_LOGIN_WINDOW", o.LoginWindow, "the window -login-limit counts in")
	fs.DestinationKey(&c.destinationKeyFile,
		"key file that seals the destinations' credentials (the forwarder's and pixelctl's; created, 0600, when missing); empty: the destination pages say it is not configured")
	fs.Duration(&c.shutdownTimeout, "shutdown-timeout", "CONSOLE_SHUTDOWN_TIMEOUT", 10*time.Second, "time for requests in flight to finish on SIGTERM")
	fs.Logging(&c.log.Level, &c.log.Format)
	fs.Check(o.Validate)
	return c, fs
}

func main() {
	c, fs := newConfig()
	fs.ParseOrExit(os.Args[1:])
	log, err := c.log.Stderr("console")
	fs.RunOrExit(err)
	logging.RunOrExit(log, run(c, fs, log))
}

// run is the console's story: ClickHouse, the console and its admin
// listener; then a signal, on which /readyz turns unready, requests in
// flight finish, and the rest stops, with how long each took.
func run(c *config, fs *flagenv.Set, log zerolog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	m := metrics.NewSet()
	m.RegisterProcess()
	chFrom := fs.Source("clickhouse-addr").String()
	conn, err := chstore.OpenRetrying(ctx, c.ch, chFrom, log)
	if err != nil {
		return err
	}
	defer func() { _ = logging.Stop(log, "ClickHouse connection", conn.Close) }()
	if c.destinationKeyFile != "" {
		// Created when missing, as pixelctl destination create does: every
		// program that edits or forwards destinations names the same file.
		_, statErr := os.Stat(c.destinationKeyFile)
		if c.console.DestinationKey, err = destination.LoadOrCreateKey(c.destinationKeyFile); err != nil {
			return err
		}
		if errors.Is(statErr, os.ErrNotExist) {
			log.Warn().Str("destination_key_file", c.destinationKeyFile).Msg("created a new destination key: give the forwarder and pixelctl this same file")
		}
	} else {
		log.Warn().Msg("no -destination-key-file (PIXEL_DESTINATION_KEY_FILE): the destination pages and API are unavailable")
	}
	con, err := console.New(conn, c.console, log, m)
	if err != nil {
		return err
	}

	var stopping atomic.Bool
	adm, err := admin.Start(c.adminAddr, m, func() error {
		if stopping.Load() {
			return errors.New("shutting down")
		}
		return nil
	}, log)
	if err != nil {
		return errors.New("cannot listen on admin address " + c.adminAddr + ": " + err.Error() + "; set -admin-addr or CONSOLE_ADMIN_ADDR")
	}
	ln, err := net.Listen("tcp", c.console.Addr)
	if err != nil {
		_ = adm.Close(context.Background())
		return errors.New("cannot listen on " + c.console.Addr + ": " + err.Error() + "; set -addr or CONSOLE_ADDR")
	}
	srv := &http.Server{Handler: con.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan error, 1)
	scheme := "http"
	go func() {
		if c.console.TLS() {
			served <- srv.ServeTLS(ln, c.console.TLSCert, c.console.TLSKey)
		} else {
			served <- srv.Serve(ln)
		}
	}()
	if c.console.TLS() {
		scheme = "https"
	}
	log.Info().Str("url", scheme+"://"+ln.Addr().String()+"/").Str("admin_addr", adm.Addr()).Strs("clickhouse", c.ch.Addr).
		Str("clickhouse_from", chFrom).Str("collector_url", c.console.CollectorURL).Str("destination_key_file", c.destinationKeyFile).Msg("console started")

	select {
	case <-ctx.Done():
	case err := <-served:
		return errors.New("the console stopped serving: " + err.Error())
	}
	stopping.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	_ = logging.Stop(log, "console listener", func() error { return srv.Shutdown(sctx) })
	_ = logging.Stop(log, "admin listener", func() error { return adm.Close(sctx) })
	return nil
}
