package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/users"
)

func TestMain(m *testing.M) { os.Exit(devstacktest.RunTests(m)) }

// The first make run creates the console's admin with a generated password,
// kept in a file only its owner reads; later runs read it back, and say how
// to reset it when the file is gone or the password was changed.
func TestFirstAdmin(t *testing.T) {
	ctx := devstacktest.Context(t)
	conn := devstacktest.Open(t, devstacktest.Database(t))
	store := users.NewStore(conn)
	file := filepath.Join(t.TempDir(), adminPasswordFile)

	var first firstAdmin
	if err := ensureAdmin(ctx, conn, file, &first); err != nil {
		t.Fatal(err)
	}
	if first.name != "admin" || first.password == "" || first.problem != "" {
		t.Fatalf("first run: %+v, want admin with a password", first)
	}
	if u, err := store.Authenticate(ctx, "admin", first.password); err != nil || !u.IsAdmin() {
		t.Fatalf("the banner's password does not sign admin in: %v %+v", err, u)
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v, mode %v; want 0600", err, st.Mode())
	}

	var again firstAdmin
	if err := ensureAdmin(ctx, conn, file, &again); err != nil {
		t.Fatal(err)
	}
	if again.password != first.password {
		t.Errorf("second run: %+v, want the first run's password from the file", again)
	}
	if all, _ := store.List(ctx); len(all) != 1 {
		t.Errorf("%d users after two runs, want the one admin", len(all))
	}

	if err := store.SetPassword(ctx, "admin", "a password of my own"); err != nil {
		t.Fatal(err)
	}
	var changed firstAdmin
	if err := ensureAdmin(ctx, conn, file, &changed); err != nil {
		t.Fatal(err)
	}
	if changed.password != "" || !strings.Contains(changed.problem, "pixelctl user password admin") {
		t.Errorf("after a password change: %+v, want no password and how to reset it", changed)
	}

	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	var gone firstAdmin
	if err := ensureAdmin(ctx, conn, file, &gone); err != nil {
		t.Fatal(err)
	}
	if gone.password != "" || !strings.Contains(gone.problem, "no longer in "+file) || !strings.Contains(gone.problem, "pixelctl user password admin") {
		t.Errorf("without the file: %+v, want how to reset the password", gone)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("a run without the file wrote one: %v", err)
	}
}

// An admin made with pixelctl user create before the first make run is
// the one to sign in as: no second admin appears.
func TestFirstAdminKeepsYours(t *testing.T) {
	ctx := devstacktest.Context(t)
	conn := devstacktest.Open(t, devstacktest.Database(t))
	store := users.NewStore(conn)
	if _, err := store.Create(ctx, "ana", users.RoleAdmin, "a password of my own"); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), adminPasswordFile)
	var a firstAdmin
	if err := ensureAdmin(ctx, conn, file, &a); err != nil {
		t.Fatal(err)
	}
	if a.name != "ana" || a.password != "" {
		t.Errorf("%+v, want to sign in as ana", a)
	}
	if _, err := store.Get(ctx, "admin"); err == nil {
		t.Error("make run created admin beside ana")
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("password file written: %v", err)
	}
}
