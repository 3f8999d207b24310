package console

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/devstack/devstacktest"
	"github.com/pixel-pipeline/pixel/pkg/users"
)

func TestMain(m *testing.M) { os.Exit(devstacktest.RunTests(m)) }

// testConsole is a console on its own fresh database, served by httptest.
type testConsole struct {
	*Server
	srv  *httptest.Server
	conn chstore.Conn
	db   chstore.Options
}

// newTestConsole starts a console on a fresh, migrated database. change, if
// given, adjusts the options first.
func newTestConsole(t *testing.T, change ...func(*Options)) *testConsole {
	t.Helper()
	db := devstacktest.Database(t)
	conn := devstacktest.Open(t, db)
	o := DefaultOptions()
	for _, c := range change {
		c(&o)
	}
	s, err := New(conn, o, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tc := &testConsole{Server: s, conn: conn, db: db}
	tc.srv = httptest.NewServer(s.Handler())
	t.Cleanup(tc.srv.Close)
	return tc
}

// user creates a user with a known password.
func (tc *testConsole) user(t *testing.T, name, role string) string {
	t.Helper()
	pw := "correct horse " + name
	if _, err := tc.users.Create(context.Background(), name, role, pw); err != nil {
		t.Fatal(err)
	}
	return pw
}

// client is a browser: a cookie jar, no redirects followed, and the CSRF
// token of its session once signed in.
type client struct {
	t    *testing.T
	base string
	http *http.Client
	csrf string
}

func (tc *testConsole) client(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: tc.srv.URL, http: &http.Client{
		Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// signIn creates a user of role and signs a new client in as them.
func (tc *testConsole) signIn(t *testing.T, name, role string) *client {
	t.Helper()
	pw := tc.user(t, name, role)
	c := tc.client(t)
	if res := c.login(name, pw); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in as %s: %d, want 303", name, res.StatusCode)
	}
	c.csrf = c.metaCSRF("/pixels")
	return c
}

var (
	hiddenCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	metaCSRF   = regexp.MustCompile(`<meta name="csrf" content="([^"]*)">`)
)

// login posts the sign-in form as a browser does: the form first, for its
// token.
func (c *client) login(name, password string) *http.Response {
	c.t.Helper()
	_, body := c.get("/login")
	m := hiddenCSRF.FindStringSubmatch(body)
	if m == nil {
		c.t.Fatalf("no CSRF field in the sign-in form:\n%s", body)
	}
	res, _ := c.post("/login", url.Values{"csrf": {m[1]}, "name": {name}, "password": {password}})
	return res
}

func (c *client) metaCSRF(path string) string {
	c.t.Helper()
	_, body := c.get(path)
	m := metaCSRF.FindStringSubmatch(body)
	if m == nil || m[1] == "" {
		c.t.Fatalf("GET %s: no session CSRF token in the page", path)
	}
	return m[1]
}

func (c *client) do(req *http.Request) (*http.Response, string) {
	c.t.Helper()
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return res, string(b)
}

func (c *client) get(path string) (*http.Response, string) {
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do(req)
}

// post sends a form; the session's CSRF token is added unless form has one.
func (c *client) post(path string, form url.Values) (*http.Response, string) {
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok && c.csrf != "" {
		form.Set("csrf", c.csrf)
	}
	req, err := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// api calls the JSON API with the session (and its CSRF header) or, when
// token is set, with the token alone.
func (c *client) api(method, path, token string, body io.Reader) (*http.Response, string) {
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	} else if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.do(req)
}

var _ = users.RoleAdmin
