package audience_test

import (
	"bytes"
	"encoding/csv"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pixel-pipeline/pixel/pkg/audience"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// exportMembers covers what a writer must get right: excluded members of
// each reason, members with only some identifiers or none, hashes in upper
// case or with spaces, values that are no hash, raw and hashed external ids,
// and visitor ids that need CSV quoting.
var exportMembers = []audience.Member{
	{VisitorID: "v-all", EmailSHA256: sha("jane@example.com"), EmailGoogleSHA256: sha("jane@example.com"),
		PhoneSHA256: sha("16505551212"), PhoneGoogleSHA256: sha("+16505551212"), ExternalID: "user-42"},
	{VisitorID: "v-gmail", EmailSHA256: sha("j.doe@gmail.com"), EmailGoogleSHA256: sha("jdoe@gmail.com")},
	{VisitorID: "v-upper", EmailSHA256: " " + strings.ToUpper(sha("upper@example.com")) + " "},
	{VisitorID: "v-phone-only", PhoneSHA256: sha("4915112345678"), PhoneGoogleSHA256: sha("+4915112345678")},
	{VisitorID: "v-meta-only", EmailSHA256: sha("server@example.com")}, // the server API had only Meta's hash
	{VisitorID: "v-ext-hashed", ExternalID: strings.ToUpper(sha("user-7"))},
	{VisitorID: "v-junk", EmailSHA256: "jane@example.com", PhoneSHA256: "+1 650 555 1212", EmailGoogleSHA256: sha("x")[:63] + "g"},
	{VisitorID: "v-none"},
	{VisitorID: "v-consent", EmailSHA256: sha("c@example.com"), EmailGoogleSHA256: sha("c@example.com"), Excluded: audience.ReasonConsent},
	{VisitorID: "v-optout", EmailSHA256: sha("o@example.com"), EmailGoogleSHA256: sha("o@example.com"), ExternalID: "user-9", Excluded: audience.ReasonOptOut},
	{VisitorID: "v-gpc", EmailSHA256: sha("g@example.com"), EmailGoogleSHA256: sha("g@example.com"), Excluded: audience.ReasonGPC},
	{VisitorID: "v-bot", EmailSHA256: sha("b@example.com"), Excluded: audience.ReasonBot},
	{VisitorID: "v-bot2", Excluded: audience.ReasonBot},
	{VisitorID: "v,\"quoted\"\nid"},
}

func TestWriteGolden(t *testing.T) {
	tests := []struct {
		format audience.Format
		want   audience.Counts
	}{
		// v-junk, v-none and the quoted id have no hash; v-upper, v-meta-only and
		// v-ext-hashed also have none of Google's.
		{audience.Meta, audience.Counts{Exported: 6, Consent: 1, OptOut: 1, GPC: 1, Bot: 2, NoIdentifier: 3}},
		{audience.Google, audience.Counts{Exported: 3, Consent: 1, OptOut: 1, GPC: 1, Bot: 2, NoIdentifier: 6}},
		{audience.IDs, audience.Counts{Exported: 9, Consent: 1, OptOut: 1, GPC: 1, Bot: 2}},
	}
	for _, tt := range tests {
		t.Run(string(tt.format), func(t *testing.T) {
			var buf bytes.Buffer
			c, err := audience.Write(&buf, tt.format, exportMembers)
			if err != nil {
				t.Fatal(err)
			}
			if c != tt.want {
				t.Errorf("counts %+v, want %+v", c, tt.want)
			}
			if c.Exported+c.Excluded() != len(exportMembers) {
				t.Errorf("%d exported + %d excluded != %d members", c.Exported, c.Excluded(), len(exportMembers))
			}
			golden := filepath.Join("testdata", string(tt.format)+".csv")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if buf.String() != string(want) {
				t.Errorf("output differs from %s:\n%s", golden, buf.String())
			}
		})
	}
}

func TestCountsString(t *testing.T) {
	c := audience.Counts{Exported: 6, Consent: 1, OptOut: 2, GPC: 1, Bot: 2, NoIdentifier: 3}
	if got, want := c.String(), "exported 6; excluded 9 (consent 1, opted out 2, gpc 1, bot 2, no identifier 3)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestWriteRefuses(t *testing.T) {
	var buf bytes.Buffer
	if _, err := audience.Write(&buf, audience.Meta, []audience.Member{{VisitorID: "v", Excluded: "maybe"}}); err == nil || buf.Len() != 0 {
		t.Errorf("unknown exclusion reason: err %v, wrote %q; want an error and nothing written", err, buf.String())
	}
	if _, err := audience.Write(&buf, "tiktok", nil); err == nil || buf.Len() != 0 {
		t.Errorf("unknown format: err %v, wrote %q; want an error and nothing written", err, buf.String())
	}
	for _, s := range []string{"meta", "google", "ids"} {
		if f, err := audience.ParseFormat(s); err != nil || string(f) != s {
			t.Errorf("ParseFormat(%q) = %q, %v", s, f, err)
		}
	}
	if _, err := audience.ParseFormat("Meta"); err == nil {
		t.Error("ParseFormat(Meta): no error")
	}
}

// FuzzWrite: whatever the rows hold, a meta or google export writes only
// 64 lower-case hex digits, every export is valid CSV with its header and
// one record per exported member, and the counts add up.
func FuzzWrite(f *testing.F) {
	f.Add("v1", sha("a"), sha("a"), sha("1"), sha("+1"), "user-1", "")
	f.Add("v,2\n", "a@b", strings.ToUpper(sha("a")), "", "+1 650", sha("x"), "bot")
	f.Add("", "", "", "", "", "", "consent")
	f.Add("\"", " "+sha("b")+"\t", "", "", "", "\x00", "gpc")
	f.Add("o", sha("o"), sha("o"), "", "", "user-o", "optout")
	f.Fuzz(func(t *testing.T, visitor, email, emailGoogle, phone, phoneGoogle, ext, excluded string) {
		ms := []audience.Member{
			{VisitorID: visitor, EmailSHA256: email, EmailGoogleSHA256: emailGoogle, PhoneSHA256: phone, PhoneGoogleSHA256: phoneGoogle, ExternalID: ext, Excluded: excluded},
			{VisitorID: "fixed", EmailSHA256: sha("fixed"), EmailGoogleSHA256: sha("fixed")},
		}
		for _, format := range []audience.Format{audience.Meta, audience.Google, audience.IDs} {
			var buf bytes.Buffer
			c, err := audience.Write(&buf, format, ms)
			if err != nil {
				if buf.Len() != 0 {
					t.Fatalf("%s: error %v after writing %q", format, err, buf.String())
				}
				continue
			}
			if c.Exported+c.Excluded() != len(ms) {
				t.Fatalf("%s: counts %+v do not add up to %d members", format, c, len(ms))
			}
			r := csv.NewReader(&buf)
			recs, err := r.ReadAll()
			if err != nil {
				t.Fatalf("%s: not valid CSV: %v", format, err)
			}
			if len(recs) != 1+c.Exported {
				t.Fatalf("%s: %d records for %d exported members", format, len(recs), c.Exported)
			}
			for _, rec := range recs[1:] {
				for _, v := range rec {
					if format == audience.IDs {
						continue
					}
					if v != "" && !isLowerHex64(v) {
						t.Fatalf("%s: wrote %q, which is no SHA-256", format, v)
					}
				}
				// encoding/csv's reader drops a carriage return before a
				// newline even inside a quoted field: the file holds the
				// id, the reader gives it back without the \r.
				if format == audience.IDs && rec[0] != strings.ReplaceAll(visitor, "\r\n", "\n") && rec[0] != "fixed" {
					t.Fatalf("ids: wrote %q, no member's visitor id", rec[0])
				}
			}
		}
	})
}

func isLowerHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	return strings.Trim(s, "0123456789abcdef") == ""
}
