package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
)

// The credentials the tests give: no output may contain any of them.
var destSecrets = []string{"EAAtoken-meta-1", "EAAtoken-meta-2", "devtok-google", "client-id.apps", "GOCSPX-secret", "1//refresh", "whsec_hook"}

func TestDestinationCommands(t *testing.T) {
	o := devstacktest.Database(t)
	keyFile := filepath.Join(t.TempDir(), "destination.key")
	common := []string{"-clickhouse-addr", o.Addr[0], "-clickhouse-database", o.Database, "-destination-key-file", keyFile}
	var outputs []string
	run := func(input string, args ...string) (string, error) {
		t.Helper()
		out, err := withStdin(t, input, append(args, common...)...)
		outputs = append(outputs, out)
		if err != nil {
			outputs = append(outputs, err.Error())
		}
		return out, err
	}
	must := func(input string, args ...string) string {
		t.Helper()
		out, err := run(input, args...)
		if err != nil {
			t.Fatalf("pixelctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	for _, id := range []string{"shop", "blog"} {
		if out, err := pixelctl(t, "pixel", "create", "-id", id, "-name", id, "-clickhouse-addr", o.Addr[0], "-clickhouse-database", o.Database); err != nil {
			t.Fatalf("pixel create: %v\n%s", err, out)
		}
	}

	// create makes the key file, 0600, and seals the credentials with it.
	out := must(`{"access_token": "`+destSecrets[0]+`"}`, "destination", "create", "-id", "meta1", "-pixel", "shop", "-kind", "meta", "-name", "Meta shop",
		"-meta-dataset", "1234567890", "-meta-test-event-code", "TEST42", "-meta-ldu", "-events", "Purchase,EngagedVisit", "-min-value", "5", "-credentials-stdin")
	if !strings.Contains(out, "Created destination meta1") || !strings.Contains(out, "access_token") || !strings.Contains(out, "TEST42") {
		t.Errorf("create printed:\n%s", out)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	must(`{"developer_token": "`+destSecrets[2]+`", "client_id": "`+destSecrets[3]+`", "client_secret": "`+destSecrets[4]+`", "refresh_token": "`+destSecrets[5]+`"}`,
		"destination", "create", "-id", "google1", "-pixel", "shop", "-kind", "google", "-name", "Google shop",
		"-google-customer", "1234567890", "-google-action", "555", "-google-action-name", "Purchase (web)", "-google-login-customer", "9998887776",
		"-google-token-url", "http://127.0.0.1:1/token", "-credentials-stdin")
	out = must("", "destination", "create", "-pixel", "blog", "-kind", "webhook", "-name", "Relay", "-webhook-url", "https://relay.example/in", "-format", "json")
	var hook destination.Record
	if err := json.Unmarshal([]byte(out), &hook); err != nil || len(hook.ID) != 16 || hook.Webhook == nil || hook.Webhook.URL != "https://relay.example/in" ||
		hook.Meta != nil || len(hook.CredentialsSet) != 0 || hook.Status != "active" {
		t.Fatalf("create -format json: %v\n%s", err, out)
	}

	// What the Store holds is what the flags said.
	key, err := destination.LoadKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	s := destination.NewStore(devstacktest.Open(t, o), key)
	ctx := devstacktest.Context(t)
	m, err := s.Get(ctx, "meta1")
	if err != nil {
		t.Fatal(err)
	}
	if want := (destination.Meta{DatasetID: "1234567890", TestEventCode: "TEST42", LimitedDataUse: true}); m.Meta != want || m.Credentials.AccessToken != destSecrets[0] ||
		!reflect.DeepEqual(m.Events, []string{"Purchase", "EngagedVisit"}) || m.MinValue != 5 || m.Name != "Meta shop" || m.PixelID != "shop" {
		t.Errorf("stored %+v", m)
	}
	g, err := s.Get(ctx, "google1")
	if err != nil {
		t.Fatal(err)
	}
	if g.Google.ConversionName != "Purchase (web)" || g.Google.LoginCustomerID != "9998887776" || g.Google.TokenURL != "http://127.0.0.1:1/token" ||
		g.Credentials != (destination.Credentials{DeveloperToken: destSecrets[2], ClientID: destSecrets[3], ClientSecret: destSecrets[4], RefreshToken: destSecrets[5]}) {
		t.Errorf("stored %+v", g)
	}

	// list: table, csv, json; by pixel and name; which credentials are set.
	out = must("", "destination", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[1], "Relay") || !strings.Contains(lines[2], "Google shop") || !strings.Contains(lines[3], "Meta shop") {
		t.Errorf("list:\n%s", out)
	}
	if !strings.Contains(lines[1], "(none) (missing: signing_secret)") || !strings.Contains(lines[3], "access_token") || !strings.Contains(lines[3], "Purchase,EngagedVisit") {
		t.Errorf("list credentials and events:\n%s", out)
	}
	out = must("", "destination", "list", "-pixel", "shop", "-format", "csv")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) != 3 || recs[0][0] != "id" || recs[1][0] != "google1" || recs[2][0] != "meta1" ||
		recs[1][8] != "developer_token,client_id,client_secret,refresh_token" || recs[2][7] != "dataset 1234567890" || recs[2][6] != "5" {
		t.Errorf("list -format csv: %v\n%s", err, out)
	}
	out = must("", "destination", "list", "-format", "json")
	var list []destination.Record
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 3 || list[2].ID != "meta1" || !reflect.DeepEqual(list[2].CredentialsSet, []string{"access_token"}) ||
		list[1].Google == nil || list[1].Google.CustomerID != "1234567890" {
		t.Errorf("list -format json: %v\n%s", err, out)
	}
	if !strings.Contains(out, `"dataset_id": "1234567890"`) || !strings.Contains(out, `"conversion_action_id": "555"`) || !strings.Contains(out, `"credentials_set"`) {
		t.Errorf("list -format json names:\n%s", out)
	}

	// update changes only the flags given; credentials merge by name.
	out = must(`{"access_token": "`+destSecrets[1]+`"}`, "destination", "update", "meta1", "-min-value", "12.5", "-credentials-stdin")
	if !strings.Contains(out, "Updated destination meta1") {
		t.Errorf("update printed:\n%s", out)
	}
	m2, err := s.Get(ctx, "meta1")
	if err != nil {
		t.Fatal(err)
	}
	if m2.MinValue != 12.5 || m2.Meta != m.Meta || !reflect.DeepEqual(m2.Events, m.Events) || m2.Name != m.Name || m2.Credentials.AccessToken != destSecrets[1] {
		t.Errorf("after update: %+v", m2)
	}
	must(`{"client_secret": ""}`, "destination", "update", "google1", "-events", "", "-google-action-name", "Sale", "-credentials-stdin")
	g2, err := s.Get(ctx, "google1")
	if err != nil {
		t.Fatal(err)
	}
	wantCreds := g.Credentials
	wantCreds.ClientSecret = ""
	if g2.Credentials != wantCreds || g2.Events != nil || g2.Google.ConversionName != "Sale" || g2.Google.CustomerID != "1234567890" {
		t.Errorf("after the google update: %+v", g2)
	}
	out = must("", "destination", "show", "google1")
	if !strings.Contains(out, "developer_token,client_id,refresh_token (missing: client_secret)") || !strings.Contains(out, "(default)") || !strings.Contains(out, "Sale") {
		t.Errorf("show:\n%s", out)
	}
	out = must("", "destination", "show", "meta1", "-format", "json")
	var shown destination.Record
	if err := json.Unmarshal([]byte(out), &shown); err != nil || shown.Meta == nil || shown.Meta.TestEventCode != "TEST42" || shown.MinValue != 12.5 {
		t.Errorf("show -format json: %v\n%s", err, out)
	}

	// disable, enable, delete.
	if out := must("", "destination", "disable", "meta1"); !strings.Contains(out, "is disabled now") || !strings.Contains(out, "disabled") {
		t.Errorf("disable printed:\n%s", out)
	}
	if d, _ := s.Get(ctx, "meta1"); d.Active() || d.Credentials.AccessToken != destSecrets[1] {
		t.Errorf("after disable: %+v", d)
	}
	must("", "destination", "enable", "meta1")
	if d, _ := s.Get(ctx, "meta1"); !d.Active() {
		t.Errorf("after enable: %+v", d)
	}
	if out := must("", "destination", "delete", hook.ID); !strings.Contains(out, "Deleted destination "+hook.ID) {
		t.Errorf("delete printed:\n%s", out)
	}
	if _, err := s.Get(ctx, hook.ID); !errors.Is(err, destination.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if out := must("", "destination", "list"); strings.Contains(out, "Relay") {
		t.Errorf("list shows the deleted destination:\n%s", out)
	}

	// Mistakes are refused with what to do.
	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"destination", "create", "-pixel", "shop", "-kind", "meta"}, "-pixel, -kind and -name are required"},
		{"", []string{"destination", "create", "-pixel", "shop", "-kind", "meta", "-name", "M", "-webhook-url", "https://x.example"}, "-webhook-url is a setting of webhook destinations"},
		{"", []string{"destination", "create", "-pixel", "nope", "-kind", "meta", "-name", "M", "-meta-dataset", "1"}, `no pixel "nope"`},
		{"", []string{"destination", "create", "-pixel", "shop", "-kind", "tiktok", "-name", "T"}, "kind"},
		{"", []string{"destination", "create", "-pixel", "shop", "-kind", "meta", "-name", "M", "-meta-dataset", "1", "-access-token", "x"}, "not defined"},
		{`{"password": "` + destSecrets[6] + `"}`, []string{"destination", "create", "-pixel", "blog", "-kind", "webhook", "-name", "W", "-webhook-url", "https://x.example", "-credentials-stdin"}, `credential "password"`},
		{`{"access_token": "` + destSecrets[6] + `"}`, []string{"destination", "create", "-pixel", "blog", "-kind", "webhook", "-name", "W", "-webhook-url", "https://x.example", "-credentials-stdin"}, "access_token is not used by a webhook destination"},
		{`not json ` + destSecrets[6], []string{"destination", "update", "meta1", "-credentials-stdin"}, "not a JSON object"},
		{`["` + destSecrets[6] + `"]`, []string{"destination", "update", "meta1", "-credentials-stdin"}, "not a JSON object"},
		{`{"access_token": 5}`, []string{"destination", "update", "meta1", "-credentials-stdin"}, "not a JSON object"},
		{"", []string{"destination", "update", "meta1", "-google-customer", "1"}, "-google-customer is a setting of google destinations"},
		{"", []string{"destination", "update", "meta1", "-pixel", "blog"}, "not defined"},
		{"", []string{"destination", "update", "meta1", "-min-value", "-3"}, "minimum value"},
		{"", []string{"destination", "show", "nope"}, "no such destination"},
		{"", []string{"destination", "delete", hook.ID}, "no such destination"},
		{"", []string{"destination", "show"}, "name the destination id"},
		{"", []string{"destination", "frobnicate"}, "unknown command"},
	} {
		_, err := run(c.stdin, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("pixelctl %s: %v, want %q", strings.Join(c.args, " "), err, c.want)
		}
	}

	// Without a key file configured, each command says how to give one;
	// only create makes a key, and only in a file it is named.
	noKey := []string{"-clickhouse-addr", o.Addr[0], "-clickhouse-database", o.Database}
	t.Setenv(destination.KeyFileEnv, "")
	os.Unsetenv(destination.KeyFileEnv)
	for _, args := range [][]string{
		{"destination", "list"}, {"destination", "show", "meta1"}, {"destination", "update", "meta1", "-min-value", "1"},
		{"destination", "disable", "meta1"}, {"destination", "enable", "meta1"}, {"destination", "delete", "meta1"},
		{"destination", "create", "-pixel", "shop", "-kind", "meta", "-name", "M", "-meta-dataset", "1"},
	} {
		_, err := pixelctl(t, append(args, noKey...)...)
		if !errors.Is(err, destination.ErrNoKey) || !strings.Contains(err.Error(), "-destination-key-file") || !strings.Contains(err.Error(), "PIXEL_DESTINATION_KEY_FILE") ||
			!strings.Contains(err.Error(), "pixelctl destination create") {
			t.Errorf("pixelctl %s without a key: %v", strings.Join(args, " "), err)
		}
	}
	missing := filepath.Join(t.TempDir(), "none.key")
	if _, err := pixelctl(t, append([]string{"destination", "list", "-destination-key-file", missing}, noKey...)...); err == nil || !strings.Contains(err.Error(), "cannot read the destination key") {
		t.Errorf("list with a missing key file: %v", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("list created the key file: %v", err)
	}
	// The variable names the file as the flag does; another key opens nothing.
	other := filepath.Join(t.TempDir(), "other.key")
	t.Setenv(destination.KeyFileEnv, other)
	if _, err := destination.LoadOrCreateKey(other); err != nil {
		t.Fatal(err)
	}
	if _, err := pixelctl(t, append([]string{"destination", "show", "meta1"}, noKey...)...); !errors.Is(err, destination.ErrSealed) || !strings.Contains(err.Error(), "wrong key file") {
		t.Errorf("show with another key: %v, want ErrSealed", err)
	}
	t.Setenv(destination.KeyFileEnv, keyFile)
	if out, err := pixelctl(t, append([]string{"destination", "show", "meta1"}, noKey...)...); err != nil || !strings.Contains(out, "meta1") {
		t.Errorf("show with $%s: %v\n%s", destination.KeyFileEnv, err, out)
	}

	// -help says how the key file is made.
	out, _ = pixelctl(t, "destination", "-help")
	if !strings.Contains(out, "-credentials-stdin") || !strings.Contains(out, "makes\na new key") {
		t.Errorf("destination -help:\n%s", out)
	}

	// No output, error included, ever held a credential.
	for _, o := range outputs {
		for _, secret := range destSecrets {
			if strings.Contains(o, secret) {
				t.Errorf("output holds the credential %q:\n%s", secret, o)
			}
		}
	}
}
