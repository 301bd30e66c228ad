package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

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

func (c *clientFlags) register(fs *flag.FlagSet, withStatus bool) {
	fs.Var(&c.name, "name", "client name")
	fs.Var(&c.grantTypes, "grant-types", "allowed grant types (space or comma separated)")
	fs.Var(&c.scopes, "scopes", "allowed scopes (space or comma separated)")
	fs.BoolVar(&c.allowUnknownScopes, "allow-unknown-scopes", false, "accept scopes no API defines yet (for an API imported later)")
	fs.Var(&c.redirects, "redirect-uris", "registered redirect URIs")
	fs.Var(&c.authMethod, "auth-method", "token_endpoint_auth_method")
	fs.Var(&c.jwks, "jwks", "file holding the client's public JWKS (private_key_jwt), or the JSON itself")
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
				return s, usageError{fmt.Sprintf("--jwks: %v", err)}
			}
			raw = b
		}
		m := json.RawMessage(raw)
		s.JWKS = &m
	}
	return s, nil
}

// commandEnv parses a subcommand's flags (with --config and --json) and
// opens the platform.
type commandEnv struct {
	fs         *flag.FlagSet
	configPath *string
	asJSON     *bool
	asEnv      *bool
}

func newCommand(name string) *commandEnv {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	return &commandEnv{
		fs:         fs,
		configPath: fs.String("config", "", "YAML configuration file"),
		asJSON:     fs.Bool("json", false, "print JSON"),
		asEnv:      fs.Bool("env", false, "print CLIENT_ID=… and CLIENT_SECRET=… for a shell's eval"),
	}
}

func clientsCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{"clients: want create, list, show, update, rotate-secret or delete"}
	}
	sub := args[0]
	cmd := newCommand("clients " + sub)
	var cf clientFlags
	switch sub {
	case "create":
		cf.register(cmd.fs, false)
	case "update":
		cf.register(cmd.fs, true)
	case "list", "show", "delete", "rotate-secret":
	default:
		return usageError{fmt.Sprintf("clients: unknown subcommand %q", sub)}
	}
	pos, err := parseFlags(cmd.fs, args[1:])
	if err != nil {
		return err
	}
	wantIDs := map[string]int{"create": 0, "list": 0, "show": 1, "update": 1, "delete": 1, "rotate-secret": 1}[sub]
	if len(pos) != wantIDs {
		if wantIDs == 1 {
			return usageError{fmt.Sprintf("clients %s: give exactly one client id", sub)}
		}
		return usageError{fmt.Sprintf("clients %s: unexpected arguments %q", sub, pos)}
	}
	spec, err := cf.spec()
	if err != nil {
		return err
	}
	p, err := open(ctx, *cmd.configPath, getenv)
	if err != nil {
		return err
	}
	defer p.store.Close()

	var out any
	switch sub {
	case "create":
		out, err = p.clients.Create(ctx, spec)
	case "list":
		var list []*oauth.ClientView
		if list, err = p.clients.List(ctx); err == nil {
			if *cmd.asJSON {
				out = map[string]any{"clients": list}
			} else {
				return printClientTable(stdout, list)
			}
		}
	case "show":
		out, err = p.clients.Get(ctx, pos[0])
	case "update":
		out, err = p.clients.Update(ctx, pos[0], spec)
	case "rotate-secret":
		out, err = p.clients.RotateSecret(ctx, pos[0])
	case "delete":
		if err = p.clients.Delete(ctx, pos[0]); err == nil {
			if *cmd.asJSON {
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
	if *cmd.asJSON {
		return printJSON(stdout, out)
	}
	if *cmd.asEnv {
		v := out.(*oauth.ClientView)
		fmt.Fprintf(stdout, "CLIENT_ID=%s\n", v.ClientID)
		if v.ClientSecret != "" {
			fmt.Fprintf(stdout, "CLIENT_SECRET=%s\n", v.ClientSecret)
		}
		return nil
	}
	return printClient(stdout, out.(*oauth.ClientView))
}

func keysCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "rotate") {
		return usageError{"keys: want list or rotate"}
	}
	cmd := newCommand("keys " + args[0])
	if pos, err := parseFlags(cmd.fs, args[1:]); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageError{fmt.Sprintf("keys %s: unexpected arguments %q", args[0], pos)}
	}
	p, err := open(ctx, *cmd.configPath, getenv)
	if err != nil {
		return err
	}
	defer p.store.Close()
	if args[0] == "rotate" {
		kid, err := p.keys.Rotate(ctx)
		if err != nil {
			return err
		}
		if *cmd.asJSON {
			return printJSON(stdout, map[string]string{"kid": kid})
		}
		fmt.Fprintf(stdout, "new signing key %s; the previous key stays in the JWKS for %s\n", kid, p.cfg.KeyRetention)
		return nil
	}
	list, err := p.keys.List(ctx)
	if err != nil {
		return err
	}
	if *cmd.asJSON {
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
