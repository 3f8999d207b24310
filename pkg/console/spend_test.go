package console

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/spend"
	"github.com/pixel-pipeline/pixel/pkg/users"
)

// upload posts the spend form as a browser does: multipart, the session's
// CSRF token in the form.
func (c *client) upload(path string, fields map[string]string, file string, data []byte) (*http.Response, string) {
	c.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if c.csrf != "" {
		_ = mw.WriteField("csrf", c.csrf)
	}
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	if file != "" {
		fw, err := mw.CreateFormFile("file", file)
		if err != nil {
			c.t.Fatal(err)
		}
		_, _ = fw.Write(data)
	}
	_ = mw.Close()
	req, err := http.NewRequest(http.MethodPost, c.base+path, &body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.do(req)
}

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "spend", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSpendUpload(t *testing.T) {
	tc := newTestConsole(t)
	admin := tc.signIn(t, "ana", users.RoleAdmin)
	viewer := tc.signIn(t, "vera", users.RoleViewer)

	res, body := viewer.get("/spend")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `<table id="spend-rows">`) || strings.Contains(body, `id="spend-file"`) {
		t.Fatalf("empty spend page for a viewer: %d\n%s", res.StatusCode, body)
	}
	noInlineScript(t, "spend", body)
	if res, _ := viewer.upload("/spend", map[string]string{"platform": "csv"}, "spend.csv", testdata(t, "spend.csv")); res.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer's upload: %d, want 403", res.StatusCode)
	}
	if res, _ := viewer.api("POST", "/api/spend?platform=csv", "", bytes.NewReader(testdata(t, "spend.csv"))); res.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer's API import: %d, want 403", res.StatusCode)
	}
	// Without the CSRF token, refused.
	noToken := *admin
	noToken.csrf = ""
	if res, _ := noToken.upload("/spend", map[string]string{"platform": "csv"}, "spend.csv", testdata(t, "spend.csv")); res.StatusCode != http.StatusForbidden {
		t.Errorf("an upload without the CSRF token: %d, want 403", res.StatusCode)
	}

	_, body = admin.get("/spend")
	for _, id := range []string{`id="spend-platform"`, `for="spend-platform"`, `id="spend-file"`, `for="spend-file"`, `enctype="multipart/form-data"`} {
		if !strings.Contains(body, id) {
			t.Errorf("the admin's spend page has no %s", id)
		}
	}

	var total int
	for _, x := range []struct {
		file, platform, account string
	}{
		{"google_campaigns.csv", "google", "123-456-7890"},
		{"meta_campaigns.csv", "meta", "act_1029384756"},
		{"spend.csv", "csv", ""},
	} {
		data := testdata(t, x.file)
		f, err := spend.Parse(spend.Platform(x.platform), data, spend.Options{Account: x.account})
		if err != nil {
			t.Fatal(err)
		}
		want := spend.Summarize(x.file, f, false)
		total += want.Rows
		res, body := admin.upload("/spend", map[string]string{"platform": x.platform, "account": x.account}, x.file, data)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="spend-imported"`) {
			t.Fatalf("upload %s: %d\n%s", x.file, res.StatusCode, body)
		}
		if !strings.Contains(body, "Imported "+itoa(want.Rows)+" rows of "+x.platform+" spend from "+x.file) {
			t.Errorf("upload %s: the page does not say %d rows were imported", x.file, want.Rows)
		}
		for _, tot := range want.Totals {
			if !strings.Contains(body, "<td>"+tot.Currency+"</td><td class=\"num\">"+itoa(tot.Rows)+"</td><td class=\"num\">"+money(tot.CostMicros)+"</td>") {
				t.Errorf("upload %s: no total %s %s", x.file, tot.Currency, money(tot.CostMicros))
			}
		}
		for _, s := range want.Skipped {
			if !strings.Contains(body, `<li data-line="`+itoa(s.Line)+`">`) {
				t.Errorf("upload %s: skipped line %d not shown", x.file, s.Line)
			}
		}
		noInlineScript(t, "spend", body)
	}

	// The API: the same import answers pixelctl spend import -format json's
	// summary; importing again changes nothing.
	data := testdata(t, "spend.csv")
	f, _ := spend.Parse(spend.CSV, data, spend.Options{})
	wantJSON, _ := json.MarshalIndent(spend.Summarize("spend.csv", f, false), "", "  ")
	res, got := admin.api("POST", "/api/spend?platform=csv&file=spend.csv", "", bytes.NewReader(data))
	if res.StatusCode != http.StatusOK || strings.TrimSpace(got) != string(wantJSON) {
		t.Errorf("POST /api/spend: %d\n%s\nwant\n%s", res.StatusCode, got, wantJSON)
	}
	res, got = viewer.api("GET", "/api/spend", "", nil)
	var held spendHeld
	if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(got), &held) != nil || held.AllRows != uint64(total) || len(held.Rows) != total {
		t.Fatalf("GET /api/spend: %d %s; want %d rows", res.StatusCode, got, total)
	}
	for i := 1; i < len(held.Rows); i++ {
		if held.Rows[i].Day > held.Rows[i-1].Day {
			t.Errorf("rows not most recent first: %s after %s", held.Rows[i].Day, held.Rows[i-1].Day)
		}
	}
	_, body = viewer.get("/spend")
	if n := strings.Count(body[strings.Index(body, `<table id="spend-rows">`):], "<tr><td>20"); n != total {
		t.Errorf("table#spend-rows has %d rows, want %d", n, total)
	}

	// Wrong input: the message, 400.
	for _, x := range []struct {
		fields map[string]string
		file   string
		data   []byte
		want   string
	}{
		{map[string]string{"platform": "tiktok"}, "x.csv", data, "unknown platform"},
		{map[string]string{"platform": "google"}, "meta.csv", testdata(t, "meta_campaigns.csv"), "Google Ads"},
		{map[string]string{"platform": "csv"}, "", nil, "Choose the export file"},
	} {
		res, body := admin.upload("/spend", x.fields, x.file, x.data)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="spend-error"`) || !strings.Contains(body, x.want) {
			t.Errorf("%v %s: %d; want 400 saying %q\n%s", x.fields, x.file, res.StatusCode, x.want, body)
		}
	}
	for path, status := range map[string]int{"/api/spend": http.StatusBadRequest, "/api/spend?platform=nope": http.StatusBadRequest} {
		if res, got := admin.api("POST", path, "", strings.NewReader("a,b\n")); res.StatusCode != status {
			t.Errorf("POST %s: %d %s, want %d", path, res.StatusCode, got, status)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
