package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Durations are milliseconds, and their fields say so.
func TestDurationsInMilliseconds(t *testing.T) {
	var out bytes.Buffer
	log, err := New(&out, "info", "json", "test")
	if err != nil {
		t.Fatal(err)
	}
	log.Info().Dur("took_ms", 1500*time.Microsecond).Msg("x")
	var line struct {
		TookMS float64 `json:"took_ms"`
	}
	if err := json.Unmarshal(out.Bytes(), &line); err != nil || line.TookMS != 1.5 {
		t.Fatalf("logged %s (%v), want took_ms 1.5", out.Bytes(), err)
	}
	out.Reset()
	if err := Stop(log, "publisher", func() error { return errors.New("boom") }); err == nil {
		t.Fatal("Stop lost the error")
	}
	if s := out.String(); !strings.Contains(s, `"level":"warn"`) || !strings.Contains(s, `"took_ms":`) || !strings.Contains(s, `"message":"publisher stopped"`) || !strings.Contains(s, "boom") {
		t.Fatalf("Stop logged %s", s)
	}
}

// A console log written to a file or a pipe has no colour codes.
func TestConsoleWithoutColourOffTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) || IsTerminal(&bytes.Buffer{}) {
		t.Fatal("a file or a buffer taken for a terminal")
	}
	for _, w := range []interface {
		Write([]byte) (int, error)
	}{f, &bytes.Buffer{}} {
		log, err := New(w, "info", "console", "devstack")
		if err != nil {
			t.Fatal(err)
		}
		log.Warn().Dur("took_ms", time.Millisecond).Msg("child exited")
	}
	b, _ := os.ReadFile(f.Name())
	if bytes.Contains(b, []byte("\x1b[")) || !bytes.Contains(b, []byte("took_ms=1")) || !bytes.Contains(b, []byte("child exited")) {
		t.Fatalf("console log in a file: %q", b)
	}
}

// Every duration logged anywhere in the tree names its unit: Dur fields
// end in _ms (zerolog writes milliseconds, see init).
func TestEveryDurNamesItsUnit(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dur := regexp.MustCompile(`\.\s*Dur\("([a-z_]+)"|Int64\("([a-z_]+)", [^"]*?\.Milliseconds\(\)\)`)
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "run" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range dur.FindAllSubmatch(b, -1) {
			name := string(m[1]) + string(m[2])
			if !strings.HasSuffix(name, "_ms") {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s: a duration logged as %q: name the unit, e.g. %s_ms", rel, name, name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestNewRefusesUnknownSettings(t *testing.T) {
	if _, err := New(&bytes.Buffer{}, "loud", "json", "x"); err == nil {
		t.Error("level loud accepted")
	}
	if _, err := New(&bytes.Buffer{}, "info", "xml", "x"); err == nil {
		t.Error("format xml accepted")
	}
	if o := DefaultOptions(); o.Level != "info" || o.Format != "json" {
		t.Errorf("defaults %+v", o)
	}
}
