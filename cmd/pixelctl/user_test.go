package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/users"
)

// withStdin runs pixelctl with input as its standard input.
func withStdin(t *testing.T, input string, args ...string) (string, error) {
	t.Helper()
	saved := stdin
	stdin = strings.NewReader(input)
	defer func() { stdin = saved }()
	return pixelctl(t, args...)
}

func TestUserCommands(t *testing.T) {
	o := devstacktest.Database(t)
	ch := []string{"-clickhouse-addr", o.Addr[0], "-clickhouse-database", o.Database}
	with := func(args ...string) []string { return append(args, ch...) }
	conn, err := chstore.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s := users.NewStore(conn)
	ctx := context.Background()

	// A generated password is printed once, and works.
	out, err := pixelctl(t, with("user", "create", "-name", "Ann@Shop.Example", "-role", "admin")...)
	if err != nil {
		t.Fatalf("user create: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?m)^  ([a-km-zA-HJ-NP-Z2-9]{20})$`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "Created admin ann@shop.example.") || !strings.Contains(out, "shown only this once") {
		t.Fatalf("user create printed no password:\n%s", out)
	}
	if u, err := s.Authenticate(ctx, "ann@shop.example", m[1]); err != nil || !u.IsAdmin() {
		t.Errorf("the printed password: %+v, %v", u, err)
	}

	// -password-stdin: the first line, without its line end; nothing printed.
	out, err = withStdin(t, "bob's long password\r\nsecond line\n", with("user", "create", "-name", "bob", "-role", "viewer", "-password-stdin")...)
	if err != nil || strings.Contains(out, "password") {
		t.Fatalf("user create -password-stdin: %v\n%s", err, out)
	}
	if _, err := s.Authenticate(ctx, "bob", "bob's long password"); err != nil {
		t.Errorf("bob's password from stdin: %v", err)
	}
	if _, err := withStdin(t, "no newline at the end", with("user", "password", "bob", "-password-stdin")...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "bob", "no newline at the end"); err != nil {
		t.Errorf("a password without a line end: %v", err)
	}

	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"user", "create", "-role", "admin"}, "-name is required"},
		{"", []string{"user", "create", "-name", "carl"}, "-role is required"},
		{"", []string{"user", "create", "-name", "carl", "-role", "root"}, "admin or viewer"},
		{"", []string{"user", "create", "-name", "carl smith", "-role", "admin"}, "not allowed"},
		{"", []string{"user", "create", "-name", "bob", "-role", "admin"}, "exists already"},
		{"short\n", []string{"user", "create", "-name", "carl", "-role", "admin", "-password-stdin"}, "at least 12"},
		{"", []string{"user", "create", "-name", "carl", "-role", "admin", "-password-stdin"}, "cannot read a password"},
		{"", []string{"user", "create", "-name", "carl", "-role", "admin", "-password", "x"}, "not defined"},
		{"", []string{"user", "set-role", "nobody", "-role", "admin"}, "no such user"},
		{"", []string{"user", "set-role", "bob"}, "-role is required"},
		{"", []string{"user", "disable"}, "name the user name"},
		{"", []string{"user", "list", "-format", "xml"}, "unknown format"},
		{"", []string{"user", "token", "create", "-user", "bob"}, "-user and -label are required"},
		{"", []string{"user", "token", "create", "-user", "nobody", "-label", "x"}, "no such user"},
		{"", []string{"user", "token", "revoke", "aaaaaaaaaaaa"}, "no such"},
		{"", []string{"user", "token", "frob"}, "unknown command"},
		{"", []string{"user", "frob"}, "unknown command"},
	} {
		out, err := withStdin(t, c.stdin, with(c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("pixelctl %q: %v, want an error with %q\n%s", c.args, err, c.want, out)
		}
	}
	var fe flagError
	if _, err := pixelctl(t, with("user", "create", "-name", "carl")...); !errors.As(err, &fe) {
		t.Errorf("a missing -role is %T, want a flagError (exit status 2)", err)
	}

	// set-role, disable, enable; list in each format.
	if out, err := pixelctl(t, with("user", "set-role", "bob", "-role", "admin")...); err != nil || out != "bob is an admin now.\n" {
		t.Errorf("set-role: %v %q", err, out)
	}
	if out, err := pixelctl(t, with("user", "disable", "-clickhouse-database", o.Database, "BOB")...); err != nil || out != "bob is disabled.\n" {
		t.Errorf("disable: %v %q", err, out)
	}
	out, err = pixelctl(t, with("user", "list")...)
	if err != nil || !regexp.MustCompile(`(?m)^ann@shop.example +admin +active +\d{4}-`).MatchString(out) || !regexp.MustCompile(`(?m)^bob +admin +disabled `).MatchString(out) {
		t.Errorf("user list: %v\n%s", err, out)
	}
	out, err = pixelctl(t, with("user", "list", "-format", "csv")...)
	recs, cerr := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || cerr != nil || len(recs) != 3 || strings.Join(recs[0], ",") != "name,role,disabled,created_at,updated_at" ||
		strings.Join(recs[2][:3], ",") != "bob,admin,true" {
		t.Errorf("user list -format csv: %v %v\n%s", err, cerr, out)
	}
	out, err = pixelctl(t, with("user", "list", "-format", "json")...)
	var list []userRecord
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 || list[0].Name != "ann@shop.example" || !list[1].Disabled || strings.Contains(out, "argon2") {
		t.Errorf("user list -format json: %v\n%s", err, out)
	}
	if _, err := pixelctl(t, with("user", "enable", "bob")...); err != nil {
		t.Fatal(err)
	}

	// A new generated password replaces the old one.
	out, err = pixelctl(t, with("user", "password", "ann@shop.example")...)
	m2 := regexp.MustCompile(`(?m)^  ([a-km-zA-HJ-NP-Z2-9]{20})$`).FindStringSubmatch(out)
	if err != nil || m2 == nil || m2[1] == m[1] {
		t.Fatalf("user password: %v\n%s", err, out)
	}
	if _, err := s.Authenticate(ctx, "ann@shop.example", m[1]); err != users.ErrBadCredentials {
		t.Errorf("the old password: %v", err)
	}
	if _, err := s.Authenticate(ctx, "ann@shop.example", m2[1]); err != nil {
		t.Errorf("the new password: %v", err)
	}

	// Tokens: printed once, listed without the secret, revoked.
	out, err = pixelctl(t, with("user", "token", "create", "-user", "bob", "-label", "nightly export")...)
	tm := regexp.MustCompile(`(?m)^  (pxt_([a-z2-7]{12})_[a-z2-7]{32})$`).FindStringSubmatch(out)
	if err != nil || tm == nil || !strings.Contains(out, "will not be shown again") {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	if u, err := s.CheckToken(ctx, tm[1]); err != nil || u.Name != "bob" {
		t.Errorf("the printed token: %+v, %v", u, err)
	}
	if _, err := pixelctl(t, with("user", "token", "create", "-user", "ann@shop.example", "-label", "laptop")...); err != nil {
		t.Fatal(err)
	}
	out, err = pixelctl(t, with("user", "token", "list")...)
	if err != nil || !regexp.MustCompile(`(?m)^`+tm[2]+` +bob +nightly export +active `).MatchString(out) || !strings.Contains(out, "laptop") || strings.Contains(out, tm[1]) {
		t.Errorf("token list: %v\n%s", err, out)
	}
	out, err = pixelctl(t, with("user", "token", "list", "-user", "bob", "-format", "json")...)
	var toks []tokenRecord
	if err != nil || json.Unmarshal([]byte(out), &toks) != nil || len(toks) != 1 || toks[0].ID != tm[2] || toks[0].Label != "nightly export" || toks[0].Revoked {
		t.Errorf("token list -user bob -format json: %v\n%s", err, out)
	}
	if out, err := pixelctl(t, with("user", "token", "revoke", tm[2])...); err != nil || !strings.Contains(out, "revoked") {
		t.Errorf("token revoke: %v\n%s", err, out)
	}
	if _, err := s.CheckToken(ctx, tm[1]); err != users.ErrBadCredentials {
		t.Errorf("a revoked token: %v", err)
	}
	out, err = pixelctl(t, with("user", "token", "list", "-user", "bob", "-format", "csv")...)
	if err != nil || !strings.Contains(out, tm[2]+",bob,nightly export,true,") {
		t.Errorf("token list -format csv after revoke: %v\n%s", err, out)
	}

	if out, err := pixelctl(t, "user", "-help"); err != nil || !strings.Contains(out, "token create -user NAME -label L") {
		t.Errorf("user -help: %v\n%s", err, out)
	}
	if out, err := pixelctl(t, "help"); err != nil || !strings.Contains(out, "pixelctl user create") {
		t.Errorf("help does not list user: %v\n%s", err, out)
	}
}
