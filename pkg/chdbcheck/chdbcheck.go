// Package chdbcheck runs SQL on current ClickHouse without a server: chDB,
// the ClickHouse engine as a Python module (PyPI chdb-core), in one Python
// process. The project's own ClickHouse is 18.16 (Debian's); every schema
// and query must also run on current releases, and this package's test
// proves it for every migration under schemas/clickhouse and every query
// under schemas/queries (found by listing the files, so a new report is
// checked as soon as it exists), comparing each answer with 18.16's.
//
// Python finds chDB: $PIXEL_CHDB_PYTHON when set, else a virtual
// environment in the user's cache directory, created on first use with
// pip from PyPI (a 181 MB wheel, about 560 MB installed).
package chdbcheck

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Version is the chdb-core release the check installs: ClickHouse 26.9. A
// newer one is a new check of current syntax; change it on purpose.
const Version = "26.9.0"

// PythonEnv names a Python interpreter that has chDB, to use instead of
// the cached virtual environment.
const PythonEnv = "PIXEL_CHDB_PYTHON"

// ErrUnavailable wraps every reason chDB cannot be had here: no python3,
// no venv module, PyPI not reachable.
var ErrUnavailable = errors.New("chDB is not available")

//go:embed run.py
var runPy string

// Python returns a Python interpreter that imports chdb at Version,
// creating the virtual environment <user cache dir>/pixel/chdb-core-<Version>
// when it is missing.
func Python(ctx context.Context) (string, error) {
	if p := os.Getenv(PythonEnv); p != "" {
		return p, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("%w: no cache directory for its virtual environment (%v); set %s to a python that has chdb-core %s", ErrUnavailable, err, PythonEnv, Version)
	}
	dir := filepath.Join(cache, "pixel", "chdb-core-"+Version)
	python := filepath.Join(dir, "bin", "python")
	if _, err := os.Stat(python); err == nil {
		return python, nil
	}
	sys, err := exec.LookPath("python3")
	if err != nil {
		return "", fmt.Errorf("%w: no python3 on PATH to create %s; install Python 3.9 or later, or set %s", ErrUnavailable, dir, PythonEnv)
	}
	// Built beside its final place and renamed into it, so that a test
	// stopped half-way or one running at the same time never leaves a
	// virtual environment without chDB.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".chdb-core-*")
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer os.RemoveAll(tmp)
	if out, err := exec.CommandContext(ctx, sys, "-m", "venv", tmp).CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w: %s -m venv %s: %v\n%s(Debian: apt-get install python3-venv)", ErrUnavailable, sys, tmp, err, out)
	}
	// --no-deps: the engine needs neither pandas nor pyarrow, which chdb-core
	// lists for its DataFrame functions.
	pip := exec.CommandContext(ctx, filepath.Join(tmp, "bin", "pip"), "install", "--quiet", "--no-deps",
		"--disable-pip-version-check", "--retries", "2", "--timeout", "30", "chdb-core=="+Version)
	if out, err := pip.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w: pip install chdb-core==%s (from PyPI) into %s: %v\n%s", ErrUnavailable, Version, dir, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(python); statErr == nil {
			return python, nil // another process finished first
		}
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	// A virtual environment's scripts name their directory: python itself
	// works from the new place, pip would not (nothing here runs it again).
	return python, nil
}

// Statement is one statement to run: Exec ones must succeed, Query ones
// must also return a result.
type Statement struct {
	Name  string `json:"name"` // what a failure names: the file, and which part of it
	SQL   string `json:"sql"`
	Query bool   `json:"query"`
}

// Outcome is what a statement did.
type Outcome struct {
	Name    string   `json:"name"`
	Error   string   `json:"error"`   // empty when it succeeded
	Rows    int      `json:"rows"`    // rows of a query's result
	Columns []string `json:"columns"` // "name Type" of each column of a query's result
	// First is the first value of a query's result as JSON (chDB's
	// JSONCompact, whose 64-bit integers are numbers), or null.
	First json.RawMessage `json:"first"`
	// Data is every row of a query's result, each value as JSONCompact
	// writes it.
	Data [][]json.RawMessage `json:"data"`
}

// Run runs statements in order in one in-memory chDB session of python,
// whose current database is database (created first) and whose time zone is
// UTC, and returns what each did, and the ClickHouse version. It fails only
// when Python or chDB do; a statement's error is in its Outcome.
func Run(ctx context.Context, python, database string, statements []Statement) (string, []Outcome, error) {
	in, err := json.Marshal(struct {
		Database   string      `json:"database"`
		Statements []Statement `json:"statements"`
	}{database, statements})
	if err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, python, "-c", runPy)
	cmd.Stdin = bytes.NewReader(in)
	// The engine's time zone is the process's: UTC, as the private 18.16
	// server's (devstack), so that a DateTime without a zone and every date
	// function read the same days on both.
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", nil, fmt.Errorf("%s running chDB: %v\n%s", python, err, strings.TrimSpace(stderr.String()))
	}
	var out struct {
		Version  string    `json:"version"`
		Outcomes []Outcome `json:"outcomes"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return "", nil, fmt.Errorf("%s running chDB printed no result (%v)\n%s", python, err, strings.TrimSpace(stderr.String()))
	}
	if len(out.Outcomes) != len(statements) {
		return "", nil, fmt.Errorf("chDB answered %d statements of %d", len(out.Outcomes), len(statements))
	}
	return out.Version, out.Outcomes, nil
}
