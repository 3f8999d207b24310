package console

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/audience"
	"github.com/pixel-pipeline/pixel/pkg/dataset"
	"github.com/pixel-pipeline/pixel/pkg/users"
)

// oracleFile is the file audience.Write makes of the oracle's members (in
// visitor_id order, as the rules return them), and its counts.
func oracleFile(t *testing.T, members map[string]dataset.AudienceMember, f audience.Format) (string, audience.Counts) {
	t.Helper()
	ids := make([]string, 0, len(members))
	for id := range members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var ms []audience.Member
	for _, id := range ids {
		m := members[id]
		ms = append(ms, audience.Member{VisitorID: id, Values: m.Values, EmailSHA256: m.EmailSHA256, EmailGoogleSHA256: m.EmailGoogleSHA256,
			PhoneSHA256: m.PhoneSHA256, PhoneGoogleSHA256: m.PhoneGoogleSHA256, ExternalID: m.ExternalID, Excluded: m.Excluded})
	}
	var buf bytes.Buffer
	c, err := audience.Write(&buf, f, ms)
	if err != nil {
		t.Fatal(err)
	}
	return buf.String(), c
}

var hexSHA = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestAudiences(t *testing.T) {
	tc, pop := withDataset(t, 300)
	c := tc.signIn(t, "vera", users.RoleViewer)
	// The console's today is 2026-11-16: to defaults to it, in the pixel's zone.
	w := dataset.AudienceWindow{Pixel: dsPixel, To: "2026-11-16", Days: 180}
	members := pop.Purchasers(w)
	wantMeta, metaCounts := oracleFile(t, members, audience.Meta)
	wantGoogle, googleCounts := oracleFile(t, members, audience.Google)
	if metaCounts.Exported == 0 || metaCounts.Consent == 0 || metaCounts.NoIdentifier == 0 {
		t.Fatalf("the data set's purchasers: %s; want some of each, or the test proves little", metaCounts)
	}

	res, body := c.get("/pixels/" + dsPixel + "/audiences")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `<table id="audiences">`) || !strings.Contains(body, `href="/pixels/`+dsPixel+`/audiences/purchasers"`) ||
		!strings.Contains(body, "days=180") || !strings.Contains(body, "purchase_days=7") {
		t.Fatalf("audiences: %d\n%s", res.StatusCode, body)
	}
	noInlineScript(t, "audiences", body)

	res, body = c.get("/pixels/" + dsPixel + "/audiences/purchasers")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("purchasers: %d\n%s", res.StatusCode, body)
	}
	noInlineScript(t, "audience", body)
	if m := regexp.MustCompile(`id="audience-count" data-value="(\d+)"`).FindStringSubmatch(body); m == nil || m[1] != strconv.Itoa(metaCounts.Exported) {
		t.Errorf("#audience-count %q, want %d", m, metaCounts.Exported)
	}
	for _, want := range []string{`id="audience-excluded"`, `<tr data-reason="consent"><td>Consent denied</td><td class="num">` + strconv.Itoa(metaCounts.Consent) + `<`,
		`for="param-days"`, `id="param-days" name="days" value="180"`, `id="param-to" name="to" value="2026-11-16"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the audience page has no %s\n%s", want, body)
		}
	}
	links := map[string]string{}
	for _, m := range regexp.MustCompile(`<a id="(download-[a-z]+)" class="button" href="([^"]+)"`).FindAllStringSubmatch(body, -1) {
		links[m[1]] = strings.ReplaceAll(m[2], "&amp;", "&")
	}
	for id, want := range map[string]string{"download-meta": wantMeta, "download-google": wantGoogle} {
		if links[id] == "" {
			t.Errorf("no a#%s", id)
			continue
		}
		res, got := c.get(links[id])
		if res.StatusCode != http.StatusOK || got != want {
			t.Errorf("GET %s: %d\n%s\nwant the oracle's\n%s", links[id], res.StatusCode, got, want)
		}
		format := strings.TrimPrefix(id, "download-")
		if cd := res.Header.Get("Content-Disposition"); cd != `attachment; filename="`+dsPixel+`-purchasers-2026-11-16-`+format+`.csv"` {
			t.Errorf("%s: Content-Disposition %q", id, cd)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Errorf("%s: Content-Type %q", id, ct)
		}
		recs, err := csv.NewReader(strings.NewReader(got)).ReadAll()
		if err != nil || len(recs) < 2 {
			t.Fatalf("%s: %v %q", id, err, got)
		}
		header := map[string]string{"meta": "EMAIL,PHONE,EXTERN_ID", "google": "Email,Phone"}[format]
		if strings.Join(recs[0], ",") != header {
			t.Errorf("%s: header %q, want %q", id, recs[0], header)
		}
		for _, rec := range recs[1:] {
			for _, v := range rec {
				if v != "" && !hexSHA.MatchString(v) {
					t.Errorf("%s: %q is not a hex SHA-256", id, v)
				}
			}
		}
		if n := len(recs) - 1; n != map[string]int{"meta": metaCounts.Exported, "google": googleCounts.Exported}[format] {
			t.Errorf("%s: %d rows, the counts say otherwise", id, n)
		}
	}

	// The API: the same count, the same files, ids too.
	res, got := c.api("GET", "/api/audiences/purchasers?pixel="+dsPixel+"&days=180", "", nil)
	var count struct {
		Count    int
		Excluded map[string]int
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(got), &count) != nil || count.Count != metaCounts.Exported ||
		count.Excluded["consent"] != metaCounts.Consent || count.Excluded["no_identifier"] != metaCounts.NoIdentifier || count.Excluded["bot"] != metaCounts.Bot {
		t.Errorf("GET /api/audiences/purchasers: %d %s; want %s", res.StatusCode, got, metaCounts)
	}
	res, got = c.api("GET", "/api/audiences/purchasers?pixel="+dsPixel+"&format=google", "", nil)
	if json.Unmarshal([]byte(got), &count) != nil || count.Count != googleCounts.Exported {
		t.Errorf("format=google: %d %s; want %s", res.StatusCode, got, googleCounts)
	}
	wantIDs, _ := oracleFile(t, members, audience.IDs)
	if res, got := c.api("GET", "/api/audiences/purchasers/download?pixel="+dsPixel+"&format=ids", "", nil); res.StatusCode != http.StatusOK || got != wantIDs {
		t.Errorf("ids download: %d\n%s\nwant\n%s", res.StatusCode, got, wantIDs)
	}
	res, got = c.api("GET", "/api/audiences", "", nil)
	var list struct{ Audiences []struct{ Name string } }
	if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(got), &list) != nil || len(list.Audiences) != 5 {
		t.Errorf("GET /api/audiences: %d %s", res.StatusCode, got)
	}

	// Wrong input.
	for path, status := range map[string]int{
		"/pixels/" + dsPixel + "/audiences/purchasers?days=181":                      http.StatusBadRequest,
		"/pixels/" + dsPixel + "/audiences/purchasers?tz=UTC":                        http.StatusBadRequest,
		"/pixels/" + dsPixel + "/audiences/purchasers?gpc_mode=flag":                 http.StatusBadRequest,
		"/pixels/" + dsPixel + "/audiences/purchasers?colour=red":                    http.StatusBadRequest,
		"/pixels/" + dsPixel + "/audiences/everyone":                                 http.StatusNotFound,
		"/pixels/nope/audiences/purchasers":                                          http.StatusNotFound,
		"/pixels/" + dsPixel + "/audiences/purchasers/download?format=ids":           http.StatusBadRequest,
		"/pixels/" + dsPixel + "/audiences/purchasers/download?format=meta&days=0":   http.StatusBadRequest,
		"/api/audiences/purchasers?pixel=" + dsPixel + "&format=tiktok":              http.StatusBadRequest,
		"/api/audiences/purchasers?days=30":                                          http.StatusBadRequest,
		"/api/audiences/purchasers?pixel=nope":                                       http.StatusNotFound,
		"/api/audiences/purchasers/download?pixel=" + dsPixel + "&format=meta&to=no": http.StatusBadRequest,
		"/api/audiences/visited-pages?pixel=" + dsPixel:                              http.StatusBadRequest, // pattern is required
	} {
		if res, body := c.get(path); res.StatusCode != status {
			t.Errorf("GET %s: %d, want %d\n%s", path, res.StatusCode, status, body)
		}
	}
	// A bad parameter keeps the form, with the message.
	if _, body := c.get("/pixels/" + dsPixel + "/audiences/purchasers?days=181"); !strings.Contains(body, `id="audience-error"`) || !strings.Contains(body, `id="param-days" name="days" value="181"`) {
		t.Errorf("days=181:\n%s", body)
	}
}
