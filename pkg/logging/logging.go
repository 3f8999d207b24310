// Package logging builds the zerolog logger every command uses: structured,
// one line per event worth a human's attention, JSON or console. A duration
// is logged with its unit in the field's name: Dur("took_ms", d) writes
// milliseconds.
package logging

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
)

func init() {
	// zerolog's globals, set once for every logger of the process: Dur
	// writes milliseconds (with a fraction), which is why its fields end in
	// _ms, and times have nanoseconds.
	zerolog.DurationFieldUnit = time.Millisecond
	zerolog.DurationFieldInteger = false
	zerolog.TimeFieldFormat = time.RFC3339Nano
}

// Options are the -log-level and -log-format of a command (flagenv's
// Logging group fills them).
type Options struct {
	Level  string // debug, info, warn or error
	Format string // json or console
}

// DefaultOptions are the servers' defaults: info, in JSON.
func DefaultOptions() Options { return Options{Level: "info", Format: "json"} }

// New returns a logger writing to w at the given level ("debug", "info",
// "warn", "error") in the given format ("json" or "console"). The console
// format is in colour only when w is a terminal, so that a file or a pipe
// gets no escape codes.
func New(w io.Writer, level, format, component string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("cannot parse log level %q: %w; use debug, info, warn or error", level, err)
	}
	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339, NoColor: !IsTerminal(w)}
	default:
		return zerolog.Nop(), fmt.Errorf("unknown log format %q; use json or console", format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("component", component).Logger(), nil
}

// Stderr is New writing to standard error with o's level and format.
func (o Options) Stderr(component string) (zerolog.Logger, error) {
	return New(os.Stderr, o.Level, o.Format, component)
}

// IsTerminal reports whether w is a terminal (a character device), where
// colour codes are read as colours rather than stored as garbage.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Stop runs stop, which stops one part of a command, and logs "<what>
// stopped" with how long it took (took_ms), as a warning with the error when
// it fails. It returns stop's error.
func Stop(log zerolog.Logger, what string, stop func() error) error {
	start := time.Now()
	err := stop()
	ev := log.Info()
	if err != nil {
		ev = log.Warn().Err(err)
	}
	ev.Dur("took_ms", time.Since(start)).Msg(what + " stopped")
	return err
}

// RunOrExit ends a server's main after its run: it returns when err is nil,
// and otherwise logs the error as the reason the command stopped and exits
// with status 1.
func RunOrExit(log zerolog.Logger, err error) {
	if err == nil {
		return
	}
	log.Error().Err(err).Msg("stopped with an error")
	os.Exit(1)
}
