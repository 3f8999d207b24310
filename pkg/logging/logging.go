// Package logging builds the zerolog logger every command uses: structured,
// one line per event worth a human's attention, JSON or console.
package logging

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
)

// New returns a logger writing to w at the given level ("debug", "info",
// "warn", "error") in the given format ("json" or "console").
func New(w io.Writer, level, format, component string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("cannot parse log level %q: %w; use debug, info, warn or error", level, err)
	}
	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	default:
		return zerolog.Nop(), fmt.Errorf("unknown log format %q; use json or console", format)
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("component", component).Logger(), nil
}

// Stderr is New writing to standard error.
func Stderr(level, format, component string) (zerolog.Logger, error) {
	return New(os.Stderr, level, format, component)
}
