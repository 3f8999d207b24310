package chstore

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func TestSplitStatements(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"empty", "", nil},
		{"only comments", "-- one\n  -- two\n\n", nil},
		{"one", "SELECT 1;\n", []string{"SELECT 1"}},
		{"no final semicolon", "SELECT 1", []string{"SELECT 1"}},
		{"several", "CREATE TABLE a (x UInt8) ENGINE = Memory;\nCREATE TABLE b (x UInt8) ENGINE = Memory;\n",
			[]string{"CREATE TABLE a (x UInt8) ENGINE = Memory", "CREATE TABLE b (x UInt8) ENGINE = Memory"}},
		{"multi-line with comments", "-- head\nCREATE TABLE a\n(\n    -- the key\n    x UInt8\n)\nENGINE = Memory;\n\n-- next\nSELECT 2;",
			[]string{"CREATE TABLE a\n(\n    x UInt8\n)\nENGINE = Memory", "SELECT 2"}},
		{"semicolon inside a line", "SELECT ';' AS s, 1 FROM t WHERE x = ';'\nLIMIT 1;\n", []string{"SELECT ';' AS s, 1 FROM t WHERE x = ';'\nLIMIT 1"}},
		{"empty statements", ";\n;;\nSELECT 1;\n", []string{"SELECT 1"}},
		{"CRLF", "SELECT 1;\r\nSELECT 2;\r\n", []string{"SELECT 1", "SELECT 2"}},
		{"indented semicolon", "SELECT 1\n  ;  \nSELECT 2", []string{"SELECT 1", "SELECT 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := splitStatements(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("splitStatements(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestReadMigrations(t *testing.T) {
	const first = "-- first\nCREATE TABLE a (x UInt8) ENGINE = Memory;\nCREATE TABLE b (x UInt8) ENGINE = Memory;\n"
	const second = "ALTER TABLE a ADD COLUMN y String;\n"
	const tenth = "SELECT 10"
	fsys := fstest.MapFS{
		"m/0010_ten_and_more.sql": {Data: []byte(tenth)},
		"m/0002_add_y.sql":        {Data: []byte(second)},
		"m/0001_tables.sql":       {Data: []byte(first)},
		"m/README.md":             {Data: []byte("not a migration")},
		"m/old/0003_x.sql":        {Data: []byte("in a subdirectory: ignored")},
	}
	got, err := readMigrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	want := []Migration{
		{Version: 1, Name: "tables", Checksum: sum(first), Statements: []string{"CREATE TABLE a (x UInt8) ENGINE = Memory", "CREATE TABLE b (x UInt8) ENGINE = Memory"}},
		{Version: 2, Name: "add_y", Checksum: sum(second), Statements: []string{"ALTER TABLE a ADD COLUMN y String"}},
		{Version: 10, Name: "ten_and_more", Checksum: sum(tenth), Statements: []string{"SELECT 10"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("readMigrations\n got %+v\nwant %+v", got, want)
	}

	// Any change to a file, even in a comment, changes its checksum.
	fsys["m/0001_tables.sql"] = &fstest.MapFile{Data: []byte(strings.Replace(first, "first", "First", 1))}
	again, err := readMigrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if again[0].Checksum == got[0].Checksum || !reflect.DeepEqual(again[0].Statements, got[0].Statements) {
		t.Fatal("an edited comment must change the checksum and nothing else")
	}
}

func TestReadMigrationsErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		want  string
	}{
		{"no number", []string{"events.sql"}, "NNNN_description.sql"},
		{"no description", []string{"0001.sql"}, "NNNN_description.sql"},
		{"letters in number", []string{"00a1_events.sql"}, "NNNN_description.sql"},
		{"negative", []string{"-1_events.sql"}, "NNNN_description.sql"},
		{"too large", []string{"4294967296_events.sql"}, "NNNN_description.sql"},
		{"duplicate", []string{"0001_events.sql", "0002_more.sql", "1_events_again.sql"}, "share version 1"},
		{"missing directory", nil, "file does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{"other/keep.txt": {}}
			for _, name := range tc.files {
				fsys["m/"+name] = &fstest.MapFile{Data: []byte("SELECT 1;\n")}
			}
			got, err := readMigrations(fsys, "m")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("readMigrations(%v) = %v, %v; want an error containing %q", tc.files, got, err, tc.want)
			}
		})
	}
}

// The embedded migrations are well formed: consecutive versions from 1 and
// statements that the driver can send one at a time.
func TestEmbeddedMigrations(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if m.Version != uint32(i+1) {
			t.Errorf("migration %d has version %d; versions must count up from 1 without gaps", i, m.Version)
		}
		if len(m.Statements) == 0 {
			t.Errorf("migration %04d_%s has no statements", m.Version, m.Name)
		}
		for _, st := range m.Statements {
			if strings.HasSuffix(st, ";") || strings.TrimSpace(st) != st {
				t.Errorf("migration %04d_%s: statement %q is not trimmed", m.Version, m.Name, st)
			}
		}
	}
}

func TestReadMigrationsRequires(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0001_plain.sql":    {Data: []byte("-- no requirement\nSELECT 1;\n")},
		"m/0002_modern.sql":   {Data: []byte("-- requires: 22.2\n--\n-- why\nALTER TABLE t MODIFY SETTING x = 1;\n")},
		"m/0003_spaces.sql":   {Data: []byte("  --   requires:  23.8.1  \r\nSELECT 3;\n")},
		"m/0004_later.sql":    {Data: []byte("SELECT 4;\n-- requires: 99.1\n")},
		"m/0005_patch.sql":    {Data: []byte("-- requires: 18.16.1\nSELECT 5;\n")},
		"m/0006_no_space.sql": {Data: []byte("--requires: 22.2\nSELECT 6;\n")},
	}
	got, err := readMigrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint32]Version{1: {}, 2: {22, 2, 0}, 3: {23, 8, 1}, 4: {}, 5: {18, 16, 1}, 6: {22, 2, 0}}
	for _, m := range got {
		if m.Requires != want[m.Version] {
			t.Errorf("migration %d requires %v, want %v", m.Version, m.Requires, want[m.Version])
		}
	}
	if len(got[1].Statements) != 1 || got[1].Statements[0] != "ALTER TABLE t MODIFY SETTING x = 1" {
		t.Errorf("statements of a requires migration: %q", got[1].Statements)
	}

	for _, bad := range []string{"-- requires: 22\nSELECT 1;", "-- requires:\nSELECT 1;", "-- requires: latest\nSELECT 1;"} {
		_, err := readMigrations(fstest.MapFS{"m/0001_x.sql": {Data: []byte(bad)}}, "m")
		if err == nil || !strings.Contains(err.Error(), "0001_x.sql") || !strings.Contains(err.Error(), "MAJOR.MINOR") {
			t.Errorf("readMigrations(%q) = %v, want an error naming the file and the format", bad, err)
		}
	}
}

// The embedded migration that enables insert de-duplication runs only where
// the server knows the setting.
func TestEmbeddedMigrationRequires(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range ms {
		for _, st := range m.Statements {
			if strings.Contains(st, "non_replicated_deduplication_window") {
				found = true
				if m.Requires != InsertDeduplicationToken {
					t.Errorf("migration %04d_%s sets non_replicated_deduplication_window but requires %v, want %v", m.Version, m.Name, m.Requires, InsertDeduplicationToken)
				}
			}
		}
	}
	if !found {
		t.Error("no migration enables non_replicated_deduplication_window")
	}
}

func TestInsertSettings(t *testing.T) {
	for _, tc := range []struct {
		v     Version
		token string
		want  bool
	}{
		{Version{18, 16, 1}, "tok", false},
		{Version{21, 12, 9}, "tok", false},
		{Version{22, 1, 99}, "tok", false},
		{Version{22, 2, 0}, "tok", true},
		{Version{22, 2, 1}, "tok", true},
		{Version{24, 3, 2}, "tok", true},
		{Version{24, 3, 2}, "", false},
	} {
		s := insertSettings(tc.v, tc.token)
		if got := s["insert_deduplication_token"]; (got != nil) != tc.want || (tc.want && got != tc.token) || s["insert_distributed_sync"] != 1 {
			t.Errorf("insertSettings(%v, %q) = %v, want the token: %v", tc.v, tc.token, s, tc.want)
		}
	}
}
