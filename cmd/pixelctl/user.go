package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pixel-pipeline/pixel/pkg/chstore"
	"github.com/pixel-pipeline/pixel/pkg/flagenv"
	"github.com/pixel-pipeline/pixel/pkg/users"
)

const userUsage = `Usage: pixelctl user <command> [flags] [NAME|ID]

Commands:
  create -name N -role admin|viewer [-password-stdin]
                      add a console account; without -password-stdin a password is
                      generated and printed (once)
  list                every account [-format table|csv|json]
  set-role NAME -role admin|viewer
  password NAME [-password-stdin]
                      a new password (generated and printed when not given)
  disable NAME        the account cannot sign in, its API tokens stop working
  enable NAME         it can again
  token create -user NAME -label L
                      an API token for scripts (Authorization: Bearer ...), printed once
  token list [-user NAME]
  token revoke ID     the token stops working, for good

Passwords are never command-line arguments (ps would show them): give one on
standard input with -password-stdin, e.g. pixelctl user password ann -password-stdin < file.
Run "pixelctl user <command> -help" for its flags.
`

// stdin is where -password-stdin reads; tests replace it.
var stdin io.Reader = os.Stdin

func userCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("user: name a command (pixelctl user -help lists them)")}
	}
	switch args[0] {
	case "create":
		return userCreate(ctx, args[1:], out)
	case "list":
		return userList(ctx, args[1:], out)
	case "set-role":
		return userSetRole(ctx, args[1:], out)
	case "password":
		return userPassword(ctx, args[1:], out)
	case "disable", "enable":
		return userSetDisabled(ctx, args[0], args[1:], out)
	case "token":
		return tokenCmd(ctx, args[1:], out)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(out, userUsage)
		return nil
	}
	return usageError{fmt.Errorf("user: unknown command %q (pixelctl user -help lists them)", args[0])}
}

// newFormatCmd is the flags every pixelctl data command shares: ClickHouse,
// and -format with the values formats lists (none: no -format flag).
func newFormatCmd(name, desc string, formats ...string) *cmdFlags {
	c := &cmdFlags{name: name, fs: flagenv.New(name, desc), o: chstore.DefaultOptions(), format: "table"}
	clickhouseFlags(c.fs, &c.o)
	if len(formats) > 0 {
		c.fs.Func("format", "PIXELCTL_FORMAT", "table", "output `format`: "+strings.Join(formats, ", "), func(v string) error {
			for _, f := range formats {
				if v == f {
					c.format = v
					return nil
				}
			}
			return fmt.Errorf("unknown format %q; use %s", v, strings.Join(formats, " or "))
		})
	}
	return c
}

func roleFlag(fs *flagenv.Set, role *string) {
	fs.String(role, "role", "PIXELCTL_USER_ROLE", "", "the account's `role`: admin (changes pixels, spend and accounts) or viewer (reads)")
}

// checkRole is -role's check, after parsing: required, admin or viewer.
func checkRole(cmd, role string) error {
	if role == "" {
		return flagError{fmt.Errorf("%s: -role is required (admin or viewer)", cmd)}
	}
	if err := users.ValidRole(role); err != nil {
		return flagError{fmt.Errorf("%s: -role: %w", cmd, err)}
	}
	return nil
}

func passwordStdinFlag(fs *flagenv.Set, p *bool) {
	fs.Bool(p, "password-stdin", "PIXELCTL_PASSWORD_STDIN", false, "read the password from the first line of standard input (else one is generated and printed)")
}

// newPassword is the first line of stdin with -password-stdin, else a
// generated password; generated says which.
func newPassword(fromStdin bool) (password string, generated bool, err error) {
	if !fromStdin {
		return users.GeneratePassword(), true, nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", false, fmt.Errorf("-password-stdin: cannot read a password from standard input: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if err := users.ValidPassword(line); err != nil {
		return "", false, fmt.Errorf("-password-stdin: %w", err)
	}
	return line, false, nil
}

func printGenerated(out io.Writer, name, password string) {
	fmt.Fprintf(out, "\nPassword of %s:\n\n  %s\n\nIt is shown only this once (the store keeps an argon2id hash). Lost: pixelctl user password %s sets a new one.\n", name, password, name)
}

func userCreate(ctx context.Context, args []string, out io.Writer) error {
	c := newFormatCmd("pixelctl user create", "Add a console account. Without -password-stdin a password is generated and printed once.\n  pixelctl user create -name ann@shop.example -role admin\n  pixelctl user create -name bob -role viewer -password-stdin < password.txt")
	var (
		name, role string
		fromStdin  bool
	)
	c.fs.String(&name, "name", "PIXELCTL_USER_NAME", "", "the account's `name`: 1 to 64 of a-z 0-9 . _ @ - (upper case is lowered)")
	roleFlag(c.fs, &role)
	passwordStdinFlag(c.fs, &fromStdin)
	if _, err := c.parseID(args, ""); err != nil {
		return err
	}
	if name == "" {
		return flagError{errors.New("user create: -name is required")}
	}
	if err := checkRole("user create", role); err != nil {
		return err
	}
	password, generated, err := newPassword(fromStdin)
	if err != nil {
		return err
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	u, err := users.NewStore(conn).Create(ctx, name, role, password)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Created %s %s.\n", u.Role, u.Name)
	if generated {
		printGenerated(out, u.Name, password)
	}
	return nil
}

// userRecord is a user as list prints it.
type userRecord struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func status(disabled bool, off string) string {
	if disabled {
		return off
	}
	return "active"
}

const timeFormat = "2006-01-02 15:04:05 MST"

func userList(ctx context.Context, args []string, out io.Writer) error {
	c := newFormatCmd("pixelctl user list", "List every console account, disabled ones too.", "table", "csv", "json")
	if _, err := c.parseID(args, ""); err != nil {
		return err
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	us, err := users.NewStore(conn).List(ctx)
	if err != nil {
		return err
	}
	switch c.format {
	case "json":
		rs := make([]userRecord, len(us))
		for i, u := range us {
			rs[i] = userRecord{u.Name, u.Role, u.Disabled, u.CreatedAt, u.UpdatedAt}
		}
		return writeJSON(out, rs)
	case "csv":
		w := csv.NewWriter(out)
		_ = w.Write([]string{"name", "role", "disabled", "created_at", "updated_at"})
		for _, u := range us {
			_ = w.Write([]string{u.Name, u.Role, fmt.Sprint(u.Disabled), u.CreatedAt.Format(time.RFC3339), u.UpdatedAt.Format(time.RFC3339)})
		}
		w.Flush()
		return w.Error()
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tSTATUS\tCREATED\tUPDATED")
	for _, u := range us {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, status(u.Disabled, "disabled"), u.CreatedAt.Format(timeFormat), u.UpdatedAt.Format(timeFormat))
	}
	return tw.Flush()
}

func userSetRole(ctx context.Context, args []string, out io.Writer) error {
	c := newFormatCmd("pixelctl user set-role", "Make an account an admin or a viewer.\n  pixelctl user set-role NAME -role viewer")
	var role string
	roleFlag(c.fs, &role)
	name, err := c.parseID(args, "user name")
	if err != nil {
		return err
	}
	if err := checkRole("user set-role", role); err != nil {
		return err
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := users.NewStore(conn).SetRole(ctx, name, role); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s is %s %s now.\n", strings.ToLower(name), map[string]string{users.RoleAdmin: "an", users.RoleViewer: "a"}[role], role)
	return nil
}

func userPassword(ctx context.Context, args []string, out io.Writer) error {
	c := newFormatCmd("pixelctl user password", "Give an account a new password: from standard input with -password-stdin, else a generated\none, printed once.\n  pixelctl user password NAME [-password-stdin]")
	var fromStdin bool
	passwordStdinFlag(c.fs, &fromStdin)
	name, err := c.parseID(args, "user name")
	if err != nil {
		return err
	}
	password, generated, err := newPassword(fromStdin)
	if err != nil {
		return err
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := users.NewStore(conn).SetPassword(ctx, name, password); err != nil {
		return err
	}
	name = strings.ToLower(name)
	fmt.Fprintf(out, "Set a new password for %s.\n", name)
	if generated {
		printGenerated(out, name, password)
	}
	return nil
}

func userSetDisabled(ctx context.Context, verb string, args []string, out io.Writer) error {
	desc := map[string]string{
		"disable": "Disable an account: it cannot sign in and its API tokens stop working (kept, for enable).",
		"enable":  "Enable a disabled account again (its tokens that were not revoked work again).",
	}[verb]
	c := newFormatCmd("pixelctl user "+verb, desc+"\n  pixelctl user "+verb+" NAME")
	name, err := c.parseID(args, "user name")
	if err != nil {
		return err
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := users.NewStore(conn).SetDisabled(ctx, name, verb == "disable"); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s is %sd.\n", strings.ToLower(name), verb)
	return nil
}

func tokenCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("user token: name a command: create, list or revoke (pixelctl user -help)")}
	}
	switch args[0] {
	case "create":
		return tokenCreate(ctx, args[1:], out)
	case "list":
		return tokenList(ctx, args[1:], out)
	case "revoke":
		return tokenRevoke(ctx, args[1:], out)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(out, userUsage)
		return nil
	}
	return usageError{fmt.Errorf("user token: unknown command %q; use create, list or revoke", args[0])}
}

func tokenCreate(ctx context.Context, args []string, out io.Writer) error {
	c := newFormatCmd("pixelctl user token create", "Make an API token for an account and print it (only this once): scripts send it as\nAuthorization: Bearer TOKEN to the console's /api/ and act with the account's role.\n  pixelctl user token create -user ann -label \"nightly export\"")
	var user, label string
	c.fs.String(&user, "user", "PIXELCTL_TOKEN_USER", "", "the account (`name`) the token acts as")
	c.fs.String(&label, "label", "PIXELCTL_TOKEN_LABEL", "", "what the token is for (`text`, 1 to 100 characters), shown in token list")
	if _, err := c.parseID(args, ""); err != nil {
		return err
	}
	if user == "" || label == "" {
		return flagError{errors.New("user token create: -user and -label are required")}
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	secret, t, err := users.NewStore(conn).CreateToken(ctx, user, label)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Created token %s for %s (%s):\n\n  %s\n\n"+
		"Store it now: it will not be shown again (the store keeps its SHA-256).\n"+
		"Lost or leaked: pixelctl user token revoke %s, then create another.\n", t.ID, t.User, t.Label, secret, t.ID)
	return nil
}

// tokenRecord is a token as token list prints it.
type tokenRecord struct {
	ID        string    `json:"id"`
	User      string    `json:"user"`
	Label     string    `json:"label"`
	Revoked   bool      `json:"revoked"`
	CreatedAt time.Time `json:"created_at"`
}

func tokenList(ctx context.Context, args []string, out io.Writer) error {
	c := newFormatCmd("pixelctl user token list", "List the API tokens (revoked ones too), of one account with -user.", "table", "csv", "json")
	var user string
	c.fs.String(&user, "user", "PIXELCTL_TOKEN_USER", "", "only this account's tokens (`name`; empty: every account's)")
	if _, err := c.parseID(args, ""); err != nil {
		return err
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	ts, err := users.NewStore(conn).ListTokens(ctx, user)
	if err != nil {
		return err
	}
	switch c.format {
	case "json":
		rs := make([]tokenRecord, len(ts))
		for i, t := range ts {
			rs[i] = tokenRecord{t.ID, t.User, t.Label, t.Revoked, t.CreatedAt}
		}
		return writeJSON(out, rs)
	case "csv":
		w := csv.NewWriter(out)
		_ = w.Write([]string{"id", "user", "label", "revoked", "created_at"})
		for _, t := range ts {
			_ = w.Write([]string{t.ID, t.User, t.Label, fmt.Sprint(t.Revoked), t.CreatedAt.Format(time.RFC3339)})
		}
		w.Flush()
		return w.Error()
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tLABEL\tSTATUS\tCREATED")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.User, t.Label, status(t.Revoked, "revoked"), t.CreatedAt.Format(timeFormat))
	}
	return tw.Flush()
}

func tokenRevoke(ctx context.Context, args []string, out io.Writer) error {
	c := newFormatCmd("pixelctl user token revoke", "Revoke an API token: it stops working, for good.\n  pixelctl user token revoke ID")
	id, err := c.parseID(args, "token id")
	if err != nil {
		return err
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := users.NewStore(conn).RevokeToken(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(out, "Token %s is revoked.\n", id)
	return nil
}
