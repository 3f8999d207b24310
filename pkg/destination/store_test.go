package destination_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/destination"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
	"github.com/pixel-pipeline/pixel/pkg/registry"
	"github.com/pixel-pipeline/pixel/schemas"
)

// newStore returns a Store on a fresh database with the pixels shop and
// blog, its connection and its key.
func newStore(t *testing.T) (*destination.Store, chstore.Conn, *destination.Key) {
	t.Helper()
	conn := devstacktest.Open(t, devstacktest.Database(t))
	for _, id := range []string{"shop", "blog"} {
		if _, _, err := registry.NewStore(conn).Create(devstacktest.Context(t), registry.New{ID: id, Name: id, Settings: pixel.DefaultSettings()}); err != nil {
			t.Fatal(err)
		}
	}
	key := destination.NewKey()
	return destination.NewStore(conn, key), conn, key
}

// The secrets of the destinations below: no column may hold any of them.
var secrets = []string{"EAAGm0PX4ZCpsBAsecret", "devtok-8f3a9", "12345-abc.apps.googleusercontent.com", "GOCSPX-clientsecret", "1//0refreshtoken", "whsec_5f0c1d"}

func sample() []destination.Destination {
	return []destination.Destination{
		{
			ID: "meta-shop", PixelID: "shop", Name: "Meta shop", Kind: destination.KindMeta, Status: destination.StatusActive,
			Events: []string{"Purchase", destination.EngagedVisit}, MinValue: 9.5,
			Meta:        destination.Meta{DatasetID: "1234567890", BaseURL: "https://capig.shop.example", Version: "v25.0", TestEventCode: "TEST123", LimitedDataUse: true},
			Credentials: destination.Credentials{AccessToken: secrets[0]},
		},
		{
			PixelID: "shop", Name: "Google shop", Kind: destination.KindGoogle, Status: destination.StatusDisabled,
			Events: []string{"Purchase"},
			Google: destination.Google{CustomerID: "1234567890", ConversionActionID: "987654", ConversionName: "Shop purchase", LoginCustomerID: "1112223334",
				BaseURL: "https://googleads.example", Version: "v26", TokenURL: "https://oauth.example/token"},
			Credentials: destination.Credentials{DeveloperToken: secrets[1], ClientID: secrets[2], ClientSecret: secrets[3], RefreshToken: secrets[4]},
		},
		{
			PixelID: "blog", Name: "Relay", Kind: destination.KindWebhook,
			Webhook:     destination.Webhook{URL: "http://127.0.0.1:9000/hook"},
			Credentials: destination.Credentials{SigningSecret: secrets[5]},
		},
	}
}

// Every field of each kind survives the round trip through ClickHouse.
func TestStoreRoundTrip(t *testing.T) {
	ctx := devstacktest.Context(t)
	s, _, _ := newStore(t)
	at := time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
	destination.SetClock(s, func() time.Time { return at })

	var created []*destination.Destination
	for _, d := range sample() {
		c, err := s.Create(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		want := d
		if want.ID == "" {
			want.ID = c.ID
			if len(c.ID) != 16 || registry.ValidID(c.ID) != nil {
				t.Errorf("random id %q", c.ID)
			}
		}
		if want.Status == "" {
			want.Status = destination.StatusActive
		}
		want.CreatedAt, want.UpdatedAt, want.Version = at, at, uint64(at.UnixNano())
		if !reflect.DeepEqual(*c, want) {
			t.Errorf("Create = %+v\nwant %+v", *c, want)
		}
		got, err := s.Get(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("Get = %+v\nwant %+v", *got, *c)
		}
		created = append(created, c)
	}

	// By pixel id, then name: blog's Relay, then shop's Google and Meta.
	all, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []*destination.Destination{created[2], created[1], created[0]}; !reflect.DeepEqual(all, want) {
		t.Errorf("List(\"\") = %v", names(all))
	}
	shop, err := s.List(ctx, "shop")
	if err != nil || !reflect.DeepEqual(shop, []*destination.Destination{created[1], created[0]}) {
		t.Errorf("List(shop) = %v, %v", names(shop), err)
	}
	if none, err := s.List(ctx, "nope"); err != nil || len(none) != 0 {
		t.Errorf("List(nope) = %v, %v", names(none), err)
	}

	// No events given: stored as none, forwarded as DefaultEvents.
	if got, _ := s.Get(ctx, created[2].ID); got.Events != nil || !reflect.DeepEqual(got.EventNames(), destination.DefaultEvents) {
		t.Errorf("events of a destination without any: %q", got.Events)
	}
	if got := created[1].Credentials.Set(); !reflect.DeepEqual(got, []string{"developer_token", "client_id", "client_secret", "refresh_token"}) {
		t.Errorf("Set() = %q", got)
	}
}

func names(ds []*destination.Destination) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.PixelID+"/"+d.Name)
	}
	return out
}

// Someone who reads pixel.destinations, a viewer or an analyst without the
// key file, sees no credential: not in sealed, not in settings, nowhere.
func TestViewerSeesNoCredentials(t *testing.T) {
	ctx := devstacktest.Context(t)
	s, conn, _ := newStore(t)
	for _, d := range sample() {
		c, err := s.Create(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		// Every version, an update's and a disabled one's too.
		if _, err := s.Update(ctx, c.ID, func(d *destination.Destination) error { d.Name += " 2"; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetStatus(ctx, c.ID, destination.StatusDisabled); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := conn.Query(ctx, "SELECT destination_id, pixel_id, name, kind, status, toString(events), settings, sealed FROM destinations")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var cols [8]string
		if err := rows.Scan(&cols[0], &cols[1], &cols[2], &cols[3], &cols[4], &cols[5], &cols[6], &cols[7]); err != nil {
			t.Fatal(err)
		}
		n++
		sealed, settings := cols[7], cols[6]
		if !strings.HasPrefix(sealed, "v1:") {
			t.Errorf("sealed %q: want v1:...", sealed)
		}
		if !strings.HasPrefix(settings, "{") {
			t.Errorf("settings %q: want JSON", settings)
		}
		for _, c := range cols {
			for _, secret := range secrets {
				if strings.Contains(c, secret) {
					t.Errorf("a column of destination %s holds the secret %q: %q", cols[0], secret, c)
				}
			}
			for _, name := range destination.CredentialNames("") {
				if strings.Contains(c, name) {
					t.Errorf("a column of destination %s names the credential %s in plain text: %q", cols[0], name, c)
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// 3 destinations, 3 versions each, fewer once ClickHouse merged parts.
	if n < 3 || n > 9 {
		t.Errorf("%d rows, want 3 to 9", n)
	}
}

// insertRaw writes a version of a destination as whoever can write to
// ClickHouse could.
func insertRaw(t *testing.T, conn chstore.Conn, d *destination.Destination, settings, sealed string) {
	t.Helper()
	ctx := devstacktest.Context(t)
	batch, err := conn.PrepareBatch(ctx, schemas.Internal("destinations_insert"))
	if err != nil {
		t.Fatal(err)
	}
	events := d.Events
	if events == nil {
		events = []string{}
	}
	if err := batch.Append(d.ID, d.PixelID, d.Name, d.Kind, d.Status, events, d.MinValue, settings, sealed, d.CreatedAt, d.UpdatedAt, d.Version+1); err != nil {
		t.Fatal(err)
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
}

func sealedOf(t *testing.T, conn chstore.Conn, id string) (settings, sealed string) {
	t.Helper()
	if err := conn.QueryRow(devstacktest.Context(t), "SELECT settings, sealed FROM destinations FINAL WHERE destination_id = ?", id).Scan(&settings, &sealed); err != nil {
		t.Fatal(err)
	}
	return settings, sealed
}

// A sealed blob copied to another destination's row does not open there
// (the destination id is the associated data); a wrong key opens nothing.
func TestSealedBlobsStayWithTheirDestinationAndKey(t *testing.T) {
	ctx := devstacktest.Context(t)
	s, conn, _ := newStore(t)
	ds := sample()
	a, err := s.Create(ctx, ds[0])
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Create(ctx, destination.Destination{ID: "meta-two", PixelID: "shop", Name: "Meta two", Kind: destination.KindMeta,
		Meta: destination.Meta{DatasetID: "42"}, Credentials: destination.Credentials{AccessToken: "other-token"}})
	if err != nil {
		t.Fatal(err)
	}
	_, sealedA := sealedOf(t, conn, a.ID)
	settingsB, _ := sealedOf(t, conn, b.ID)
	insertRaw(t, conn, b, settingsB, sealedA)
	if got, err := s.Get(ctx, b.ID); !errors.Is(err, destination.ErrSealed) || got != nil {
		t.Errorf("Get with another destination's sealed credentials: %+v, %v; want ErrSealed", got, err)
	}
	if _, err := s.List(ctx, "shop"); !errors.Is(err, destination.ErrSealed) || !strings.Contains(err.Error(), b.ID) {
		t.Errorf("List: %v, want ErrSealed naming %s", err, b.ID)
	}
	if _, err := s.Update(ctx, b.ID, func(*destination.Destination) error { return nil }); !errors.Is(err, destination.ErrSealed) {
		t.Errorf("Update: %v, want ErrSealed", err)
	}

	wrong := destination.NewStore(conn, destination.NewKey())
	if _, err := wrong.Get(ctx, a.ID); !errors.Is(err, destination.ErrSealed) || !strings.Contains(err.Error(), "wrong key file") {
		t.Errorf("Get with a wrong key: %v, want ErrSealed saying so", err)
	}
	if _, err := wrong.List(ctx, ""); !errors.Is(err, destination.ErrSealed) {
		t.Errorf("List with a wrong key: %v, want ErrSealed", err)
	}
	// A destination without credentials reads with any key.
	c, err := s.Create(ctx, destination.Destination{PixelID: "blog", Name: "Bare", Kind: destination.KindWebhook, Webhook: destination.Webhook{URL: "https://hook.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := wrong.Get(ctx, c.ID); err != nil || got.Credentials != (destination.Credentials{}) {
		t.Errorf("Get of a destination without credentials, another key: %+v, %v", got, err)
	}
}

// A Store without a key refuses every read and write, saying how to give it.
func TestStoreWithoutKey(t *testing.T) {
	ctx := devstacktest.Context(t)
	_, conn, _ := newStore(t)
	s := destination.NewStore(conn, nil)
	errs := map[string]error{}
	_, errs["Create"] = s.Create(ctx, sample()[0])
	_, errs["Get"] = s.Get(ctx, "x")
	_, errs["List"] = s.List(ctx, "")
	_, errs["Update"] = s.Update(ctx, "x", func(*destination.Destination) error { return nil })
	_, errs["SetStatus"] = s.SetStatus(ctx, "x", destination.StatusActive)
	errs["Delete"] = s.Delete(ctx, "x")
	for name, err := range errs {
		if !errors.Is(err, destination.ErrNoKey) || !strings.Contains(err.Error(), "-destination-key-file") || !strings.Contains(err.Error(), "PIXEL_DESTINATION_KEY_FILE") {
			t.Errorf("%s without a key: %v", name, err)
		}
	}
}

// What a person can fix is ErrInvalid, and nothing is written.
func TestStoreValidation(t *testing.T) {
	ctx := devstacktest.Context(t)
	s, conn, _ := newStore(t)
	base := sample()[0]
	if _, err := s.Create(ctx, base); err != nil {
		t.Fatal(err)
	}
	before := devstacktest.QueryUint64(t, conn, "SELECT count() FROM destinations")
	for name, tc := range map[string]struct {
		change func(d *destination.Destination)
		want   string
	}{
		"no name":                      {func(d *destination.Destination) { d.Name = "  " }, "name is empty"},
		"unknown kind":                 {func(d *destination.Destination) { d.Kind = "tiktok" }, "kind"},
		"no pixel":                     {func(d *destination.Destination) { d.PixelID = "nope" }, `no pixel "nope"`},
		"status deleted":               {func(d *destination.Destination) { d.Status = "deleted" }, "status"},
		"taken id":                     {func(d *destination.Destination) {}, "exists already"},
		"bad id":                       {func(d *destination.Destination) { d.ID = "a b" }, "destination id"},
		"dash id":                      {func(d *destination.Destination) { d.ID = "-x" }, "flag"},
		"dataset":                      {func(d *destination.Destination) { d.Meta.DatasetID = "abc" }, "dataset"},
		"negative minimum":             {func(d *destination.Destination) { d.MinValue = -1 }, "minimum"},
		"twice":                        {func(d *destination.Destination) { d.Events = []string{"Lead", "Lead"} }, "twice"},
		"credential of google on meta": {func(d *destination.Destination) { d.Credentials.RefreshToken = "r" }, "refresh_token is not used by a meta destination: give access_token"},
		"plain http":                   {func(d *destination.Destination) { d.Meta.BaseURL = "http://capig.example" }, "https"},
	} {
		d := base
		d.Events = append([]string(nil), base.Events...)
		d.ID = "fresh"
		if name == "taken id" {
			d.ID = base.ID
		}
		tc.change(&d)
		if _, err := s.Create(ctx, d); !errors.Is(err, destination.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Create: %v; want ErrInvalid saying %q", name, err, tc.want)
		}
	}
	for name, tc := range map[string]struct {
		change func(d *destination.Destination)
		want   string
	}{
		"another pixel": {func(d *destination.Destination) { d.PixelID = "blog" }, "cannot move"},
		"another kind": {func(d *destination.Destination) {
			d.Kind = destination.KindWebhook
			d.Webhook.URL = "https://x.example"
		}, "kind cannot change"},
		"no name":    {func(d *destination.Destination) { d.Name = "" }, "name is empty"},
		"credential": {func(d *destination.Destination) { d.Credentials.SigningSecret = "s" }, "signing_secret"},
	} {
		if _, err := s.Update(ctx, base.ID, func(d *destination.Destination) error { tc.change(d); return nil }); !errors.Is(err, destination.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Update: %v; want ErrInvalid saying %q", name, err, tc.want)
		}
	}
	if _, err := s.SetStatus(ctx, base.ID, "paused"); !errors.Is(err, destination.ErrInvalid) {
		t.Errorf("SetStatus paused: %v", err)
	}
	if after := devstacktest.QueryUint64(t, conn, "SELECT count() FROM destinations"); after != before {
		t.Errorf("refused changes wrote %d rows", after-before)
	}
	// The change's own error is returned as it is.
	boom := errors.New("boom")
	if _, err := s.Update(ctx, base.ID, func(*destination.Destination) error { return boom }); err != boom {
		t.Errorf("Update whose change fails: %v", err)
	}
	for _, err := range []error{
		func() error { _, err := s.Get(ctx, "nope"); return err }(),
		func() error {
			_, err := s.Update(ctx, "nope", func(*destination.Destination) error { return nil })
			return err
		}(),
		func() error { _, err := s.SetStatus(ctx, "nope", destination.StatusDisabled); return err }(),
		s.Delete(ctx, "nope"),
	} {
		if !errors.Is(err, destination.ErrNotFound) {
			t.Errorf("a missing destination: %v, want ErrNotFound", err)
		}
	}
}

// Updates write new versions; the newest wins, a clock that went back
// included; credentials left as they were are kept, merged ones change.
func TestStoreVersions(t *testing.T) {
	ctx := devstacktest.Context(t)
	s, _, _ := newStore(t)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	destination.SetClock(s, func() time.Time { return at })
	g, err := s.Create(ctx, sample()[1])
	if err != nil {
		t.Fatal(err)
	}
	at = at.Add(time.Minute)
	up, err := s.Update(ctx, g.ID, func(d *destination.Destination) error {
		d.Name, d.Events, d.MinValue, d.Google.ConversionName = "Google shop 2", nil, 20, "Big purchase"
		d.ID, d.CreatedAt = "hijack", time.Time{} // not changeable: kept
		return d.Credentials.Merge(map[string]string{"refresh_token": "1//new", "client_secret": ""})
	})
	if err != nil {
		t.Fatal(err)
	}
	if up.ID != g.ID || !up.CreatedAt.Equal(g.CreatedAt) || !up.UpdatedAt.Equal(at) || up.Version != uint64(at.UnixNano()) {
		t.Errorf("update gave id %s, created %v, updated %v, version %d", up.ID, up.CreatedAt, up.UpdatedAt, up.Version)
	}
	want := g.Credentials
	want.RefreshToken, want.ClientSecret = "1//new", ""
	got, err := s.Get(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, up) || got.Credentials != want || got.Name != "Google shop 2" || got.Events != nil || got.MinValue != 20 {
		t.Errorf("Get after update = %+v\nwant %+v", *got, *up)
	}

	// The clock went back an hour: the version still goes up by one.
	at = at.Add(-time.Hour)
	dis, err := s.SetStatus(ctx, g.ID, destination.StatusDisabled)
	if err != nil {
		t.Fatal(err)
	}
	if dis.Version != up.Version+1 {
		t.Errorf("version after the clock went back: %d, want %d", dis.Version, up.Version+1)
	}
	en, err := s.SetStatus(ctx, g.ID, destination.StatusActive)
	if err != nil {
		t.Fatal(err)
	}
	got, err = s.Get(ctx, g.ID)
	if err != nil || !got.Active() || got.Version != en.Version || got.Credentials != want || got.Name != "Google shop 2" {
		t.Errorf("newest version: %+v, %v", got, err)
	}
	// Merging an unknown name changes nothing.
	c := want
	if err := c.Merge(map[string]string{"refresh_token": "x", "password": "y"}); !errors.Is(err, destination.ErrInvalid) || c != want {
		t.Errorf("Merge of an unknown credential: %v, %+v", err, c)
	}
}

// A deleted destination is gone for Get, List, Update and Delete; its last
// version holds no credentials.
func TestStoreDelete(t *testing.T) {
	ctx := devstacktest.Context(t)
	s, conn, _ := newStore(t)
	var ids []string
	for _, d := range sample() {
		c, err := s.Create(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	if err := s.Delete(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, ids[0]); !errors.Is(err, destination.ErrNotFound) {
		t.Errorf("Get of a deleted destination: %v", err)
	}
	if err := s.Delete(ctx, ids[0]); !errors.Is(err, destination.ErrNotFound) {
		t.Errorf("deleting twice: %v", err)
	}
	if _, err := s.Update(ctx, ids[0], func(*destination.Destination) error { return nil }); !errors.Is(err, destination.ErrNotFound) {
		t.Errorf("Update of a deleted destination: %v", err)
	}
	for _, p := range []string{"", "shop"} {
		list, err := s.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range list {
			if d.ID == ids[0] {
				t.Errorf("List(%q) shows the deleted destination", p)
			}
		}
		if len(list) != map[string]int{"": 2, "shop": 1}[p] {
			t.Errorf("List(%q) = %v", p, names(list))
		}
	}
	var status, sealed string
	if err := conn.QueryRow(ctx, "SELECT status, sealed FROM destinations FINAL WHERE destination_id = ?", ids[0]).Scan(&status, &sealed); err != nil {
		t.Fatal(err)
	}
	if status != "deleted" || sealed != "" {
		t.Errorf("deleted row: status %q, sealed %q; want deleted and no credentials", status, sealed)
	}
	// Its id is free again.
	d := sample()[0]
	d.Name = "Meta again"
	if c, err := s.Create(ctx, d); err != nil || c.ID != ids[0] {
		t.Errorf("re-creating %s: %v", ids[0], err)
	}
	if got, err := s.Get(ctx, ids[0]); err != nil || got.Name != "Meta again" {
		t.Errorf("re-created: %+v, %v", got, err)
	}
}
