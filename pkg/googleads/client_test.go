package googleads_test

// Contract tests: the client against googleadstest, a local HTTPS server
// that checks each request against Google's documented format. The live
// Google Ads API is never called.

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/gate"
	"github.com/pixel-pipeline/pixel/pkg/googleads"
	"github.com/pixel-pipeline/pixel/pkg/googleads/googleadstest"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

var dest = googleads.Destination{CustomerID: "1234567890", ConversionActionID: "987654321", ConversionName: "Purchase"}

func sha(s string) string { return string(pixel.AppendSHA256Hex(nil, []byte(s))) }

// events are n purchases, every third with a wbraid instead of a gclid.
func events(n int) []*event.Event {
	out := make([]*event.Event, n)
	for i := range out {
		e := &event.Event{
			EventID: []byte("ev-" + itoa(i)), PixelID: []byte("px"), VisitorID: []byte("v"), Name: []byte("Purchase"),
			TS: 1768473045 + int64(i), ReceivedAt: 1768473046 + int64(i),
			Value: 10 + float64(i), Currency: []byte("EUR"), OrderID: []byte("order-" + itoa(i)),
		}
		if i%3 == 2 {
			e.Tracking[event.WBRAID] = []byte("wbraid-" + itoa(i))
		} else {
			e.Tracking[event.GCLID] = []byte("gclid-" + itoa(i))
		}
		e.Tracking[event.EmailGoogleSHA256] = []byte(sha("p" + itoa(i) + "@example.com"))
		e.Tracking[event.AdUserData] = []byte("granted")
		out[i] = e
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

func conversions(t *testing.T, evs []*event.Event) []googleads.Conversion {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]googleads.Conversion, len(evs))
	for i, e := range evs {
		if out[i], err = googleads.NewConversion(e, dest, loc); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func client(srv *googleadstest.Server) *googleads.Client {
	return &googleads.Client{
		HTTP: srv.Client(), BaseURL: srv.URL, DeveloperToken: "dev-token", LoginCustomerID: "5555555555",
		Token: func(context.Context) (string, error) { return "access-token", nil },
	}
}

func noViolations(t *testing.T, srv *googleadstest.Server) {
	t.Helper()
	if v := srv.Violations(); len(v) > 0 {
		t.Fatalf("contract violations:\n%s", strings.Join(v, "\n"))
	}
}

// 4,500 events go out as 2,000 + 2,000 + 500, each request as Google documents it.
func TestSendAccepted(t *testing.T) {
	srv := googleadstest.New()
	defer srv.Close()
	srv.Token = "access-token"
	evs := events(4500)
	reqs, err := googleads.Build(dest.CustomerID, conversions(t, evs), googleads.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := client(srv)
	for _, req := range reqs {
		res, err := c.Send(context.Background(), req)
		if err != nil || res.Outcome != googleads.Accepted || res.AcceptedRows() != len(req.Conversions) {
			t.Fatalf("send: %v, %+v", err, res)
		}
	}
	noViolations(t, srv)
	ups := srv.Uploads()
	if len(ups) != 3 || len(ups[0].Conversions) != 2000 || len(ups[2].Conversions) != 500 {
		t.Fatalf("%d uploads", len(ups))
	}
	u := ups[0]
	if u.CustomerID != dest.CustomerID || u.DeveloperToken != "dev-token" || u.LoginCustomerID != "5555555555" || u.AccessToken != "access-token" {
		t.Fatalf("upload headers %+v", u)
	}
	for i, got := range [...]googleadstest.ClickConversion{u.Conversions[0], u.Conversions[2]} {
		n := i * 2
		want := googleadstest.ClickConversion{
			ConversionAction:   "customers/1234567890/conversionActions/987654321",
			ConversionDateTime: time.Unix(1768473045+int64(n), 0).In(time.FixedZone("", 3600)).Format("2006-01-02 15:04:05") + "+01:00",
			CurrencyCode:       "EUR", OrderID: "order-" + itoa(n),
			Consent: &googleadstest.Consent{AdUserData: "GRANTED"},
		}
		if n == 0 {
			want.GCLID = "gclid-0"
			want.UserIdentifiers = []googleadstest.UserIdentifier{{HashedEmail: sha("p0@example.com")}}
		} else {
			want.WBRAID = "wbraid-2" // and no user identifiers with a wbraid
		}
		if got.ConversionValue == nil || *got.ConversionValue != 10+float64(n) {
			t.Fatalf("conversion %d value %v", n, got.ConversionValue)
		}
		got.ConversionValue = nil
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(want)
		if string(a) != string(b) {
			t.Fatalf("conversion %d\n got %s\nwant %s", n, a, b)
		}
	}
}

func TestSendAnswers(t *testing.T) {
	now := time.Now().UTC()
	for _, tc := range []struct {
		name     string
		answer   googleadstest.Answer
		token    string
		outcome  googleads.Outcome
		delay    time.Duration
		refused  []int
		body     string // in Result.Body
		validate bool
	}{
		{name: "ok", outcome: googleads.Accepted},
		{name: "validate only", validate: true, outcome: googleads.Accepted},
		{name: "429 with Retry-After seconds", answer: googleadstest.Answer{Status: 429, RetryAfter: "7"}, outcome: googleads.Retry, delay: 7 * time.Second},
		{name: "429 with Retry-After date", answer: googleadstest.Answer{Status: 429, RetryAfter: now.Add(90 * time.Second).Format(http.TimeFormat)}, outcome: googleads.Retry},
		{name: "429 with Google's retryDelay", answer: googleadstest.Answer{Status: 429}, outcome: googleads.Retry, delay: 30 * time.Second},
		{name: "500", answer: googleadstest.Answer{Status: 500}, outcome: googleads.Retry},
		{name: "503 with Retry-After", answer: googleadstest.Answer{Status: 503, RetryAfter: "2"}, outcome: googleads.Retry, delay: 2 * time.Second},
		{name: "partial failure", answer: googleadstest.Answer{FailRows: []int{4, 1}}, outcome: googleads.Accepted, refused: []int{1, 4}, body: "UNPARSEABLE_GCLID"},
		{name: "permanent 400", answer: googleadstest.Answer{Status: 400}, outcome: googleads.Permanent, body: "INVALID_CONVERSION_ACTION"},
		{name: "wrong token", token: "other", outcome: googleads.Unauthorized, body: "OAUTH_TOKEN_INVALID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := googleadstest.New()
			defer srv.Close()
			srv.Token = "access-token"
			if tc.token != "" {
				srv.Token = tc.token
			}
			srv.Then(tc.answer)
			reqs, err := googleads.Build(dest.CustomerID, conversions(t, events(6)), googleads.BuildOptions{ValidateOnly: tc.validate})
			if err != nil {
				t.Fatal(err)
			}
			res, err := client(srv).Send(context.Background(), reqs[0])
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tc.outcome {
				t.Fatalf("outcome %v, want %v (%+v, %s)", res.Outcome, tc.outcome, res, res.Body)
			}
			if tc.name == "429 with Retry-After date" {
				if res.Delay < 80*time.Second || res.Delay > 90*time.Second {
					t.Fatalf("delay %v, want about 90s", res.Delay)
				}
			} else if res.Delay != tc.delay {
				t.Fatalf("delay %v, want %v", res.Delay, tc.delay)
			}
			var got []int
			for _, r := range res.Refused {
				got = append(got, r.Index)
				if len(r.Codes) != 1 || r.Codes[0] != "conversionUploadError: UNPARSEABLE_GCLID" || !json.Valid(r.Detail) || r.Message == "" {
					t.Fatalf("row error %+v", r)
				}
			}
			if len(got) != len(tc.refused) || (len(got) > 0 && (got[0] != tc.refused[0] || got[1] != tc.refused[1])) {
				t.Fatalf("refused rows %v, want %v", got, tc.refused)
			}
			if want := 6 - len(tc.refused); tc.outcome == googleads.Accepted && res.AcceptedRows() != want {
				t.Fatalf("accepted %d, want %d", res.AcceptedRows(), want)
			}
			if !strings.Contains(string(res.Body), tc.body) {
				t.Fatalf("body %s lacks %s", res.Body, tc.body)
			}
			if tc.token == "" {
				noViolations(t, srv)
			}
			if ups := srv.Uploads(); tc.token == "" && (len(ups) != 1 || ups[0].ValidateOnly != tc.validate) {
				t.Fatalf("uploads %+v", ups)
			}
		})
	}
}

// No answer at all: Retry with the caller's backoff, and the error.
func TestSendNoAnswer(t *testing.T) {
	srv := googleadstest.New()
	c := client(srv)
	srv.Close()
	reqs, err := googleads.Build(dest.CustomerID, conversions(t, events(1)), googleads.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Send(context.Background(), reqs[0])
	if err == nil || res.Outcome != googleads.Retry || res.Delay != 0 {
		t.Fatalf("closed server: %v, %+v", err, res)
	}
	c.Token = func(context.Context) (string, error) { return "", context.DeadlineExceeded }
	if res, err := c.Send(context.Background(), reqs[0]); err == nil || res.Outcome != googleads.Retry {
		t.Fatalf("token failure: %v, %+v", err, res)
	}
}

func TestURL(t *testing.T) {
	c := &googleads.Client{}
	if got := c.URL("123"); got != "https://googleads.googleapis.com/v26/customers/123:uploadClickConversions" {
		t.Fatal(got)
	}
	c = &googleads.Client{BaseURL: "https://proxy.example/", Version: "v25"}
	if got := c.URL("123"); got != "https://proxy.example/v25/customers/123:uploadClickConversions" {
		t.Fatal(got)
	}
}

// From events to the contract server: the gate keeps out a bot, a revoked
// consent and an opted-out visitor; the rest arrive once each with their
// click ids, hashes and order ids.
func TestGatedEventsArrive(t *testing.T) {
	srv := googleadstest.New()
	defer srv.Close()
	evs := events(6)
	evs[1].IsBot = true
	evs[3].Tracking[event.AdUserData] = []byte("denied") // revoked
	evs[4].VisitorID = []byte("forgotten")
	opts := gate.Options{OptedOut: func(e *event.Event) bool { return string(e.VisitorID) == "forgotten" }}
	var kept []*event.Event
	reasons := map[string]int{}
	for _, e := range evs {
		if ok, reason := gate.Check(e, opts); !ok {
			reasons[reason]++
			continue
		}
		kept = append(kept, e)
	}
	if len(reasons) != 3 || reasons["bot"] != 1 || reasons["consent"] != 1 || reasons["optout"] != 1 {
		t.Fatalf("refused %v", reasons)
	}
	reqs, err := googleads.Build(dest.CustomerID, conversions(t, kept), googleads.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := client(srv).Send(context.Background(), reqs[0]); err != nil || res.AcceptedRows() != 3 {
		t.Fatalf("send: %v %+v", err, res)
	}
	noViolations(t, srv)
	var got []string
	for _, c := range srv.Uploads()[0].Conversions {
		id := c.GCLID + c.WBRAID
		if len(c.UserIdentifiers) == 1 {
			id += " " + c.UserIdentifiers[0].HashedEmail
		}
		got = append(got, id+" "+c.OrderID)
	}
	want := []string{"gclid-0 " + sha("p0@example.com") + " order-0", "wbraid-2 order-2", "wbraid-5 order-5"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("received\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
