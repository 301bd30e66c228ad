package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"gatehouse/internal/oauth"
	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// listFlag is a flag holding a list, given space- or comma-separated.
type listFlag struct {
	set  bool
	list []string
}

func (l *listFlag) String() string { return strings.Join(l.list, " ") }
func (l *listFlag) Type() string   { return "list" }
func (l *listFlag) Set(s string) error {
	l.set = true
	l.list = strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	return nil
}

// stringFlag is a string flag that remembers whether it was given.
type stringFlag struct {
	set   bool
	value string
}

func (f *stringFlag) String() string { return f.value }
func (f *stringFlag) Type() string   { return "string" }
func (f *stringFlag) Set(s string) error {
	f.set, f.value = true, s
	return nil
}

// clientFlags are the flags that describe a client.
type clientFlags struct {
	name, authMethod, jwks, status stringFlag
	grantTypes, scopes, redirects  listFlag
	allowUnknownScopes             bool
}

func (c *clientFlags) register(fs *pflag.FlagSet, withStatus bool) {
	fs.Var(&c.name, "name", "client name")
	fs.Var(&c.grantTypes, "grant-types", "allowed grant types (space or comma separated)")
	fs.Var(&c.scopes, "scopes", "allowed scopes (space or comma separated)")
	fs.BoolVar(&c.allowUnknownScopes, "allow-unknown-scopes", false, "accept scopes no API defines yet (for an API imported later)")
	fs.Var(&c.redirects, "redirect-uris", "registered redirect URIs")
	fs.Var(&c.authMethod, "auth-method", "token_endpoint_auth_method")
	fs.Var(&c.jwks, "jwks", "`file` holding the client's public JWKS (private_key_jwt), or the JSON itself")
	if withStatus {
		fs.Var(&c.status, "status", "active or suspended")
	}
}

func (c *clientFlags) spec() (oauth.ClientSpec, error) {
	var s oauth.ClientSpec
	if c.name.set {
		s.Name = &c.name.value
	}
	if c.grantTypes.set {
		s.GrantTypes = &c.grantTypes.list
	}
	if c.scopes.set {
		s.Scopes = &c.scopes.list
	}
	s.AllowUnknownScopes = c.allowUnknownScopes
	if c.redirects.set {
		s.RedirectURIs = &c.redirects.list
	}
	if c.authMethod.set {
		s.TokenEndpointAuthMethod = &c.authMethod.value
	}
	if c.status.set {
		s.Status = &c.status.value
	}
	if c.jwks.set {
		raw := []byte(c.jwks.value)
		if !strings.HasPrefix(strings.TrimSpace(c.jwks.value), "{") {
			b, err := os.ReadFile(c.jwks.value)
			if err != nil {
				return s, usageError{msg: fmt.Sprintf("--jwks: %v", err)}
			}
			raw = b
		}
		m := json.RawMessage(raw)
		s.JWKS = &m
	}
	return s, nil
}

// output is --output (-o) and its aliases --json and, where a command
// offers it, --env.
type output struct {
	format  string // "table" by default
	formats []string
	json    bool
	env     bool
}

// addOutput gives cmd --output table|json (and the extra formats) and
// --json; with "env" among the extra formats, --env too.
func addOutput(cmd *cobra.Command, extra ...string) *output {
	o := &output{format: "table", formats: append([]string{"table", "json"}, extra...)}
	cmd.Flags().VarP(o, "output", "o", "output `format`: "+strings.Join(o.formats, ", ")+"; table is text for people")
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON (same as --output json)")
	if slices.Contains(extra, "env") {
		cmd.Flags().BoolVar(&o.env, "env", false, "print CLIENT_ID=… and CLIENT_SECRET=… for a shell's eval (same as --output env)")
	}
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return o.formats, cobra.ShellCompDirectiveNoFileComp
	})
	return o
}

func (o *output) String() string { return o.format }
func (o *output) Type() string   { return "format" }
func (o *output) Set(s string) error {
	if !slices.Contains(o.formats, s) {
		return fmt.Errorf("want %s", strings.Join(o.formats, " or "))
	}
	o.format = s
	return nil
}

// is reports whether the output is in format f; --json wins over --env,
// which wins over --output.
func (o *output) is(f string) bool {
	switch {
	case o.json:
		return f == "json"
	case o.env:
		return f == "env"
	}
	return o.format == f
}

func (c *cli) clientsCommand() *cobra.Command {
	return group("clients", "Register and manage OAuth clients (apps)",
		`A client is an app: its id and secret get tokens from /oauth2/token, which the gateway
checks against the scopes and plans of the APIs it calls. A secret is shown once, when it
is made (create, rotate-secret).`,
		c.clientCommand("create", "create", "Register a client; prints its id and its secret (shown once)",
			`  gatehouse clients create --name demo --scopes "sim-swap:check"
  eval "$(gatehouse clients create --name demo --scopes "sim-swap:check" --env)"
  gatehouse clients create --name web --grant-types "authorization_code refresh_token" \
      --redirect-uris https://app.example/callback --scopes "openid phone offline_access"`,
			0, func(fs *pflag.FlagSet, cf *clientFlags) { cf.register(fs, false) }, "env"),
		c.clientCommand("list", "list", "List the clients (never their secrets)",
			"  gatehouse clients list\n  gatehouse clients list -o json", 0, nil),
		c.clientCommand("show", "show CLIENT_ID", "Show a client (never its secret)",
			"  gatehouse clients show gh_2x7…", 1, nil),
		c.clientCommand("update", "update CLIENT_ID", "Change a client; flags not given keep their value",
			`  gatehouse clients update gh_2x7… --status suspended
  gatehouse clients update gh_2x7… --scopes "sim-swap:check sim-swap:retrieve-date"`,
			1, func(fs *pflag.FlagSet, cf *clientFlags) { cf.register(fs, true) }),
		c.clientCommand("rotate-secret", "rotate-secret CLIENT_ID", "Give a client a new secret; the previous one stays valid for secret_rotation_grace",
			`  gatehouse clients rotate-secret gh_2x7…
  eval "$(gatehouse clients rotate-secret gh_2x7… --env)"`, 1, nil, "env"),
		c.clientCommand("delete", "delete CLIENT_ID", "Delete a client; its tokens stop working",
			"  gatehouse clients delete gh_2x7…", 1, nil),
	)
}

// clientCommand is one clients subcommand: sub is what it does, nargs
// whether it takes a client id, flags its own flags.
func (c *cli) clientCommand(sub, use, short, example string, nargs int, flags func(*pflag.FlagSet, *clientFlags), formats ...string) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{Use: use, Short: short, Example: example, Args: exactArgs(nargs, "client id")}
	if flags != nil {
		flags(cmd.Flags(), &cf)
	}
	out := addOutput(cmd, formats...)
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		return c.clients(cmd.Context(), sub, pos, &cf, out)
	}
	return cmd
}

func (c *cli) clients(ctx context.Context, sub string, pos []string, cf *clientFlags, o *output) error {
	stdout := c.stdout
	spec, err := cf.spec()
	if err != nil {
		return err
	}
	p, err := open(ctx, c.configPath, c.getenv)
	if err != nil {
		return err
	}
	defer p.store.Close()

	var out any
	switch sub {
	case "create":
		out, err = p.Clients.Create(ctx, spec)
	case "list":
		var list []*oauth.ClientView
		if list, err = p.Clients.List(ctx); err == nil {
			if o.is("json") {
				out = map[string]any{"clients": list}
			} else {
				return printClientTable(stdout, list)
			}
		}
	case "show":
		out, err = p.Clients.Get(ctx, pos[0])
	case "update":
		out, err = p.Clients.Update(ctx, pos[0], spec)
	case "rotate-secret":
		out, err = p.Clients.RotateSecret(ctx, pos[0])
	case "delete":
		if err = p.Clients.Delete(ctx, pos[0]); err == nil {
			if o.is("json") {
				out = map[string]string{"deleted": pos[0]}
			} else {
				fmt.Fprintf(stdout, "deleted client %s\n", pos[0])
				return nil
			}
		}
	}
	if err != nil {
		return operatorError(err)
	}
	if o.is("json") {
		return printJSON(stdout, out)
	}
	if o.is("env") {
		v := out.(*oauth.ClientView)
		fmt.Fprintf(stdout, "CLIENT_ID=%s\n", v.ClientID)
		if v.ClientSecret != "" {
			fmt.Fprintf(stdout, "CLIENT_SECRET=%s\n", v.ClientSecret)
		}
		return nil
	}
	return printClient(stdout, out.(*oauth.ClientView))
}

func (c *cli) keysCommand() *cobra.Command {
	list := &cobra.Command{Use: "list", Short: "List the signing keys: the current one and those retired within key_retention",
		Example: "  gatehouse keys list\n  gatehouse keys list -o json", Args: exactArgs(0, "")}
	listOut := addOutput(list)
	list.RunE = func(cmd *cobra.Command, _ []string) error { return c.keys(cmd.Context(), false, listOut) }
	rotate := &cobra.Command{Use: "rotate", Short: "Make a new signing key current; the previous one stays published for key_retention",
		Example: "  gatehouse keys rotate", Args: exactArgs(0, "")}
	rotateOut := addOutput(rotate)
	rotate.RunE = func(cmd *cobra.Command, _ []string) error { return c.keys(cmd.Context(), true, rotateOut) }
	return group("keys", "List and rotate the keys that sign tokens", "", list, rotate)
}

func (c *cli) keys(ctx context.Context, rotate bool, o *output) error {
	stdout := c.stdout
	p, err := open(ctx, c.configPath, c.getenv)
	if err != nil {
		return err
	}
	defer p.store.Close()
	if rotate {
		kid, err := p.Keys.Rotate(ctx)
		if err != nil {
			return err
		}
		if o.is("json") {
			return printJSON(stdout, map[string]string{"kid": kid})
		}
		fmt.Fprintf(stdout, "new signing key %s; the previous key stays in the JWKS for %s\n", kid, p.Config.KeyRetention)
		return nil
	}
	list, err := p.Keys.List(ctx)
	if err != nil {
		return err
	}
	if o.is("json") {
		return printJSON(stdout, map[string]any{"keys": list})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED")
	for _, k := range list {
		state := "current"
		if !k.Current {
			state = "retired " + k.RetiredAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.KeyID, k.Algorithm, state, k.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

// operatorError turns a registry error into a one-line message that names
// the cause and the fix. The commands open the database themselves, with
// no server in between, so a failure of the database is told as what
// happened here, with the driver's own words.
func operatorError(err error) error {
	switch {
	case errors.Is(err, store.ErrStorageFull):
		return fmt.Errorf("the database refused the change for lack of space, so nothing was changed (unavailable/storage_full): free space on its disk or raise its size limit, then run the command again: %w", storeCause(err))
	case errors.Is(err, store.ErrReadOnly):
		return fmt.Errorf("the database is read-only, so nothing was changed (unavailable/storage_read_only): make it writable (file and directory permissions, the mount, or database_url naming the primary), then run the command again: %w", storeCause(err))
	case errors.Is(err, store.ErrUnavailable):
		return fmt.Errorf("the database cannot be reached or did not answer in time (unavailable/store_unavailable): check database_url and that the database is up, then run the command again: %w", storeCause(err))
	}
	var p *problem.Error
	if !errors.As(err, &p) {
		return err
	}
	if p.Entry.Key == "internal" && p.Err != nil {
		return fmt.Errorf("%s (%s/%s): %w", p.Entry.Title, p.Entry.Key, p.CauseID, p.Err)
	}
	return fmt.Errorf("%s (%s/%s): %s", p.Entry.Title, p.Entry.Key, p.CauseID, p.Message())
}

// storeCause is the store's error inside a registry error, or err itself.
func storeCause(err error) error {
	var p *problem.Error
	if errors.As(err, &p) && p.Err != nil {
		return p.Err
	}
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printClient(w io.Writer, c *oauth.ClientView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "client_id:\t%s\n", c.ClientID)
	if c.ClientSecret != "" {
		fmt.Fprintf(tw, "client_secret:\t%s\t(shown once: store it now)\n", c.ClientSecret)
	}
	fmt.Fprintf(tw, "name:\t%s\n", c.Name)
	fmt.Fprintf(tw, "status:\t%s\n", c.Status)
	fmt.Fprintf(tw, "auth method:\t%s\n", c.TokenEndpointAuthMethod)
	fmt.Fprintf(tw, "grant types:\t%s\n", strings.Join(c.GrantTypes, " "))
	fmt.Fprintf(tw, "scopes:\t%s\n", strings.Join(c.Scopes, " "))
	if len(c.RedirectURIs) > 0 {
		fmt.Fprintf(tw, "redirect uris:\t%s\n", strings.Join(c.RedirectURIs, " "))
	}
	if c.PreviousSecretExpiresAt != nil {
		fmt.Fprintf(tw, "previous secret valid until:\t%s\n", c.PreviousSecretExpiresAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

func printClientTable(w io.Writer, list []*oauth.ClientView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT ID\tNAME\tSTATUS\tAUTH METHOD\tGRANT TYPES\tSCOPES")
	for _, c := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ClientID, c.Name, c.Status, c.TokenEndpointAuthMethod,
			strings.Join(c.GrantTypes, ","), strings.Join(c.Scopes, " "))
	}
	return tw.Flush()
}
