package metacapi_test

// Contract tests: the builder and the client against metacapitest, a local
// HTTPS server that checks each request against Meta's documented format.
// The live Conversions API is never called.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/event"
	"github.com/pixel-pipeline/pixel/pkg/gate"
	"github.com/pixel-pipeline/pixel/pkg/metacapi"
	"github.com/pixel-pipeline/pixel/pkg/metacapi/metacapitest"
	"github.com/pixel-pipeline/pixel/pkg/pixel"
)

const token = "EAAtestTOKENsecret"

var now = time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)

func sha(s string) string { return string(pixel.AppendSHA256Hex(nil, []byte(s))) }

func browserEvent(id, name string) *event.Event {
	e := &event.Event{
		EventID: []byte(id), PixelID: []byte("px1"), VisitorID: []byte("v1"), Name: []byte(name),
		TS: now.Unix() - 120, ReceivedAt: now.Unix() - 120,
		URL: []byte("https://shop.example/thanks"), IP: []byte("2001:db8::7"), UserAgent: []byte("Mozilla/5.0 Chrome/140"),
		ClickTSMs: now.UnixMilli() - 86400_000,
	}
	if name == "Purchase" {
		e.Value, e.Currency, e.OrderID, e.ContentIDs = 49.5, []byte("USD"), []byte("ord-1"), [][]byte{[]byte("sku-9")}
	}
	e.Tracking[event.EmailSHA256] = []byte(sha("jane@example.com"))
	e.Tracking[event.FBCLID] = []byte("IwAR_Case-Sensitive")
	e.Tracking[event.ExternalID] = []byte("crm-1")
	return e
}

// setup starts a contract server and a builder and client pointed at it.
func setup(t *testing.T, o metacapi.Options) (*metacapitest.Server, *metacapi.Builder, *metacapi.Client) {
	t.Helper()
	srv := metacapitest.New()
	t.Cleanup(srv.Close)
	srv.Token = token
	srv.Now = func() time.Time { return now }
	o.BaseURL, o.PixelID = srv.URL, "1234567890"
	b, err := metacapi.NewBuilder(o)
	if err != nil {
		t.Fatal(err)
	}
	return srv, b, &metacapi.Client{HTTP: srv.Client(), AccessToken: token, Now: func() time.Time { return now }}
}

func noViolations(t *testing.T, srv *metacapitest.Server) {
	t.Helper()
	for _, v := range srv.Violations() {
		t.Errorf("contract violation: %s", v)
	}
}

func TestSendAccepted(t *testing.T) {
	srv, b, c := setup(t, metacapi.Options{TestEventCode: "TEST4242", LimitedDataUse: true})
	events := []*event.Event{browserEvent("eid-purchase", "Purchase"), browserEvent("eid-engaged", "EngagedVisit")}
	reqs, skips := b.Build(events, now)
	if len(reqs) != 1 || len(skips) != 0 {
		t.Fatalf("%d requests, skips %v", len(reqs), skips)
	}
	res, err := c.Send(context.Background(), reqs[0])
	if err != nil || res.Outcome != metacapi.Accepted || res.EventsReceived != 2 {
		t.Fatalf("Send = %+v, %v", res, err)
	}
	noViolations(t, srv)
	got := srv.Received()
	if len(got) != 1 || got[0].Version != metacapi.DefaultVersion || got[0].PixelID != "1234567890" || got[0].TestEventCode != "TEST4242" {
		t.Fatalf("received %+v", got)
	}
	p := got[0].Events[0]
	u := p["user_data"].(map[string]any)
	for k, want := range map[string]string{
		"event_id": "eid-purchase", "event_name": "Purchase", "action_source": "website", "event_source_url": "https://shop.example/thanks",
	} {
		if p[k] != want {
			t.Errorf("%s = %v, want %s", k, p[k], want)
		}
	}
	for k, want := range map[string]string{
		"em": "[" + sha("jane@example.com") + "]", "external_id": "[" + sha("crm-1") + "]",
		"fbc": fmt.Sprintf("fb.1.%d.IwAR_Case-Sensitive", now.UnixMilli()-86400_000), "client_ip_address": "2001:db8::7",
	} {
		if fmt.Sprint(u[k]) != want {
			t.Errorf("user_data.%s = %v, want %s", k, u[k], want)
		}
	}
	if cd := p["custom_data"].(map[string]any); fmt.Sprintf("%v %v %v %v %v", cd["value"], cd["currency"], cd["order_id"], cd["content_ids"], cd["content_type"]) != "49.5 USD ord-1 [sku-9] product" {
		t.Errorf("custom_data %v", cd)
	}
	if got[0].Events[1]["event_id"] != "eid-engaged" {
		t.Errorf("second event %v", got[0].Events[1])
	}
}

// TestSendFailures: 429 with Retry-After, 500 and a permanent 400 from the
// contract server, classified as Meta's answers are.
func TestSendFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    metacapitest.Failure
		outcome metacapi.Outcome
		delay   time.Duration
		code    int
	}{
		{"429 with Retry-After", metacapitest.RateLimited("7"), metacapi.Retry, 7 * time.Second, 4},
		{"429 with an HTTP date", metacapitest.RateLimited(now.Add(90 * time.Second).Format(http.TimeFormat)), metacapi.Retry, 90 * time.Second, 4},
		{"429 without Retry-After", metacapitest.RateLimited(""), metacapi.Retry, 0, 4},
		{"500", metacapitest.ServerError(), metacapi.Retry, 0, 1},
		{"400 refusal", metacapitest.Refusal(), metacapi.Refused, 0, 100},
		{"400 transient code 17", metacapitest.Failure{Status: 400, Body: `{"error":{"message":"(#17) User request limit reached","type":"OAuthException","code":17,"error_subcode":2446079,"fbtrace_id":"x"}}`}, metacapi.Retry, 0, 17},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, b, c := setup(t, metacapi.Options{})
			srv.FailNext(1, tc.fail)
			reqs, _ := b.Build([]*event.Event{browserEvent("e1", "Purchase")}, now)
			res, err := c.Send(context.Background(), reqs[0])
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tc.outcome || res.RetryAfter != tc.delay || res.Error == nil || res.Error.Code != tc.code {
				t.Fatalf("Send = %+v (error %+v)", res, res.Error)
			}
			if tc.outcome == metacapi.Refused && (string(res.Body) != metacapitest.RefusalBody || res.Error.FBTraceID != "AtestRefusal" || res.Error.ErrorSubcode != 2804003) {
				t.Errorf("refusal body %s, error %+v", res.Body, res.Error)
			}
			// The next attempt of the same request is accepted: a retry
			// sends the same bytes.
			res, err = c.Send(context.Background(), reqs[0])
			if err != nil || res.Outcome != metacapi.Accepted {
				t.Fatalf("second Send = %+v, %v", res, err)
			}
			noViolations(t, srv)
			if len(srv.Received()) != 1 || srv.Attempts() != 2 {
				t.Errorf("received %d of %d attempts", len(srv.Received()), srv.Attempts())
			}
		})
	}
}

// TestSendBatchesOf1000: 2,345 events arrive in three requests, none over
// the limit, each event once.
func TestSendBatchesOf1000(t *testing.T) {
	srv, b, c := setup(t, metacapi.Options{})
	events := make([]*event.Event, 2345)
	for i := range events {
		events[i] = browserEvent(fmt.Sprint("eid-", i), "Purchase")
	}
	reqs, _ := b.Build(events, now)
	for _, r := range reqs {
		if res, err := c.Send(context.Background(), r); err != nil || res.Outcome != metacapi.Accepted || res.EventsReceived != len(r.Events) {
			t.Fatalf("Send = %+v, %v", res, err)
		}
	}
	noViolations(t, srv)
	got := srv.Events()
	if len(srv.Received()) != 3 || len(got) != len(events) {
		t.Fatalf("%d requests, %d events", len(srv.Received()), len(got))
	}
	for i, e := range got {
		if e["event_id"] != fmt.Sprint("eid-", i) {
			t.Fatalf("event %d is %v", i, e["event_id"])
		}
	}
}

// TestSendNetworkErrorHidesToken: a failed connection is a retry, and the
// error names the URL without the access token.
func TestSendNetworkErrorHidesToken(t *testing.T) {
	srv, b, c := setup(t, metacapi.Options{})
	reqs, _ := b.Build([]*event.Event{browserEvent("e1", "Lead")}, now)
	srv.Close()
	res, err := c.Send(context.Background(), reqs[0])
	if err == nil || res.Outcome != metacapi.Retry || res.Status != 0 {
		t.Fatalf("Send = %+v, %v", res, err)
	}
	if strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), "/v25.0/1234567890/events") {
		t.Errorf("error %q", err)
	}
	if strings.Contains(string(reqs[0].Body), token) || strings.Contains(reqs[0].URL, token) {
		t.Error("the built request holds the access token")
	}
}

func TestSendWrongToken(t *testing.T) {
	srv, b, c := setup(t, metacapi.Options{})
	c.AccessToken = "wrong"
	reqs, _ := b.Build([]*event.Event{browserEvent("e1", "Lead")}, now)
	res, err := c.Send(context.Background(), reqs[0])
	if err != nil || res.Outcome != metacapi.Refused || res.Error == nil || res.Error.Code != 190 {
		t.Fatalf("Send = %+v, %v", res, err)
	}
	noViolations(t, srv)
	if _, err := (&metacapi.Client{}).Send(context.Background(), reqs[0]); err == nil {
		t.Error("Send without a token: no error")
	}
}

// TestGateThenBuild: a revoked consent never reaches the contract server.
func TestGateThenBuild(t *testing.T) {
	srv, b, c := setup(t, metacapi.Options{})
	granted, revoked := browserEvent("ok", "Purchase"), browserEvent("revoked", "Purchase")
	revoked.Tracking[event.AdUserData] = []byte("denied")
	var send []*event.Event
	refused := map[string]int{}
	for _, e := range []*event.Event{granted, revoked} {
		if ok, reason := gate.Check(e, gate.Options{}); ok {
			send = append(send, e)
		} else {
			refused[reason]++
		}
	}
	reqs, _ := b.Build(send, now)
	for _, r := range reqs {
		if _, err := c.Send(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	noViolations(t, srv)
	if got := srv.Events(); len(got) != 1 || got[0]["event_id"] != "ok" || refused[gate.Consent] != 1 {
		t.Errorf("events %v, refused %v", got, refused)
	}
}
