package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"gatehouse/internal/gateway"
	"gatehouse/internal/problem"
)

// apiFlags are the flags that describe where and how an API is served.
type apiFlags struct {
	name, basePath, upstream, status, file, errorType stringFlag
	maxBody                                           int64Flag
	// Upstream TLS: files holding PEM, and the server name.
	ca, serverName, clientCert, clientKey stringFlag
	allowUnderscore                       boolFlag
	tryLive                               boolFlag
	// Circuit breaker.
	breakerFailures               int64Flag
	breakerPause, breakerMaxPause durationFlag
	// Deprecation (update only).
	deprecatedAt, sunset timeFlag
	successor            stringFlag
	undeprecate          boolFlag
}

// timeFlag is an instant flag (RFC 3339, or a date meaning its midnight
// UTC) that remembers whether it was given.
type timeFlag struct {
	set   bool
	value time.Time
}

func (f *timeFlag) String() string {
	if f.value.IsZero() {
		return ""
	}
	return f.value.Format(time.RFC3339)
}
func (f *timeFlag) Type() string { return "time" }
func (f *timeFlag) Set(s string) error {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		if t, err = time.Parse(time.DateOnly, s); err != nil {
			return fmt.Errorf("want an instant such as 2027-01-31T00:00:00Z, or a date such as 2027-01-31 (midnight UTC)")
		}
	}
	f.set, f.value = true, t.UTC()
	return nil
}

// registerUpstream adds the upstream connection flags, shared by import and update.
func (af *apiFlags) registerUpstream(fs *pflag.FlagSet, update bool) {
	remove := ""
	if update {
		remove = "; empty removes it"
	}
	fs.Var(&af.ca, "upstream-ca", "PEM `file` of the CAs trusted for an https upstream (default: the system roots)"+remove)
	fs.Var(&af.serverName, "upstream-server-name", "TLS server name (SNI, certificate check) of an https upstream (default: the URL's host)"+remove)
	fs.Var(&af.clientCert, "upstream-client-cert", "PEM `file` of the certificate chain presented to the upstream for mutual TLS (with --upstream-client-key)"+remove)
	fs.Var(&af.clientKey, "upstream-client-key", "PEM `file` of the private key of --upstream-client-cert; stored encrypted with the system secret"+remove)
	boolVar(fs, &af.allowUnderscore, "allow-underscore-headers", "forward client header fields whose names contain _ (dropped by default)")
	fs.Var(&af.breakerFailures, "breaker-failures", "consecutive upstream failures that open the circuit (0: the platform's breaker_failures)")
	fs.Var(&af.breakerPause, "breaker-pause", "first pause of an open circuit before probes, e.g. 500ms (0: the platform's breaker_open_for)")
	fs.Var(&af.breakerMaxPause, "breaker-max-pause", "cap of the pause, which doubles after each failed probe (0: the platform's breaker_max_pause)")
}

// upstreamFlagOf names the CLI flag of an APIManager field, so a refusal
// points at what the operator typed.
var upstreamFlagOf = map[string]*struct {
	flag string
	file bool
}{
	"upstream_ca_pem":          {"--upstream-ca", true},
	"upstream_server_name":     {"--upstream-server-name", false},
	"upstream_client_cert_pem": {"--upstream-client-cert", true},
	"upstream_client_key_pem":  {"--upstream-client-key", true},
	"breaker_failures":         {"--breaker-failures", false},
	"breaker_pause_ms":         {"--breaker-pause", false},
	"breaker_max_pause_ms":     {"--breaker-max-pause", false},
	"deprecation.at":           {"--deprecated-at", false},
	"deprecation.sunset":       {"--sunset", false},
	"deprecation.successor":    {"--successor", false},
}

// readPEMFlag returns the contents of a PEM file flag: nil when not given,
// "" when given empty (removal).
func readPEMFlag(f stringFlag, name string) (*string, error) {
	if !f.set {
		return nil, nil
	}
	if f.value == "" {
		return new(string), nil
	}
	b, err := os.ReadFile(f.value)
	if err != nil {
		return nil, usageError{msg: fmt.Sprintf("%s: %v", name, err)}
	}
	s := string(b)
	return &s, nil
}

// int64Flag is an int64 flag that remembers whether it was given.
type int64Flag struct {
	set   bool
	value int64
}

func (f *int64Flag) String() string { return fmt.Sprint(f.value) }
func (f *int64Flag) Type() string   { return "int" }
func (f *int64Flag) Set(s string) error {
	_, err := fmt.Sscan(s, &f.value)
	f.set = err == nil
	return err
}

// durationFlag is a duration flag that remembers whether it was given.
type durationFlag struct {
	set   bool
	value time.Duration
}

func (f *durationFlag) String() string {
	if f.value == 0 {
		return "0" // the platform's setting: shown as no default in --help
	}
	return f.value.String()
}
func (f *durationFlag) Type() string { return "duration" }
func (f *durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("want a duration such as 500ms or 2s, or 0")
	}
	f.set, f.value = true, d
	return nil
}

// ms is the flag in whole milliseconds, rounded up (so a sub-millisecond
// pause is refused as too short rather than taken for 0, the default).
func (f *durationFlag) ms() int64 {
	return int64((f.value + time.Millisecond - 1) / time.Millisecond)
}

func (c *cli) apisCommand() *cobra.Command {
	errorTypes := func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"application/json", "application/problem+json"}, cobra.ShellCompDirectiveNoFileComp
	}
	statuses := func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"sandbox", "live", "maintenance"}, cobra.ShellCompDirectiveNoFileComp
	}
	importCmd := c.apiCommand("import", "import FILE", "Serve an API described by an OpenAPI 3.0/3.1 document through the gateway",
		`  gatehouse apis import ./my-api.yaml --upstream https://backend.internal/my-api/v1
  gatehouse apis import ./my-api.yaml --upstream sandbox: --status sandbox
  gatehouse apis import ./my-api.yaml --upstream https://10.0.0.7/my-api/v1 \
      --upstream-ca ./backend-ca.pem --upstream-server-name backend.internal \
      --upstream-client-cert ./gatehouse-client.pem --upstream-client-key ./gatehouse-client.key`,
		func(fs *pflag.FlagSet, af *apiFlags) {
			fs.Var(&af.name, "name", "API name (default: first segment of the base path)")
			fs.Var(&af.basePath, "base-path", "where the gateway serves it (default: the document's server path)")
			fs.Var(&af.upstream, "upstream", "upstream URL, or sandbox: for the built-in sandbox (required)")
			fs.Var(&af.status, "status", "sandbox, live or maintenance")
			fs.Var(&af.maxBody, "max-body-bytes", "request body limit (0: default)")
			fs.Var(&af.errorType, "error-media-type", "Content-Type of error bodies: application/json or application/problem+json")
			boolVar(fs, &af.tryLive, "try-live", "open a live API to the portal's try-it console (sandbox APIs always are)")
			af.registerUpstream(fs, false)
		})
	updateCmd := c.apiCommand("update", "update NAME", "Change an API; flags not given keep their value",
		`  gatehouse apis update my-api --status live
  gatehouse apis update my-api --file ./my-api-v2.yaml
  gatehouse apis update my-api --upstream-ca ""        # back to the system roots
  gatehouse apis update my-api --breaker-failures 3 --breaker-pause 100ms --breaker-max-pause 10s
  gatehouse apis update my-api --deprecated-at 2027-01-01 --sunset 2027-06-30 --successor my-api-v2
  gatehouse apis update my-api --undeprecate`,
		func(fs *pflag.FlagSet, af *apiFlags) {
			fs.Var(&af.file, "file", "`file` holding a new OpenAPI document replacing the stored one")
			fs.Var(&af.basePath, "base-path", "new base path")
			fs.Var(&af.upstream, "upstream", "new upstream URL, or sandbox:")
			fs.Var(&af.status, "status", "sandbox, live or maintenance")
			fs.Var(&af.maxBody, "max-body-bytes", "request body limit (0: default)")
			fs.Var(&af.errorType, "error-media-type", "Content-Type of error bodies: application/json or application/problem+json")
			boolVar(fs, &af.tryLive, "try-live", "open (or with =false close) a live API to the portal's try-it console")
			fs.Var(&af.deprecatedAt, "deprecated-at", "announce the API's deprecation as of this `time` (RFC 3339, or a date: midnight UTC); its answers carry Deprecation")
			fs.Var(&af.sunset, "sunset", "`time` the deprecated API is expected to stop answering; its answers carry Sunset")
			fs.Var(&af.successor, "successor", "`name` of the API that replaces the deprecated one; its answers link it")
			boolVar(fs, &af.undeprecate, "undeprecate", "withdraw the deprecation (and its sunset and successor)")
			af.registerUpstream(fs, true)
		})
	for _, cmd := range []*cobra.Command{importCmd, updateCmd} {
		_ = cmd.RegisterFlagCompletionFunc("status", statuses)
		_ = cmd.RegisterFlagCompletionFunc("error-media-type", errorTypes)
	}
	importCmd.ValidArgsFunction = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"yaml", "yml", "json"}, cobra.ShellCompDirectiveFilterFileExt
	}
	return group("apis", "Import and manage the APIs the gateway serves",
		`An API is an OpenAPI document plus an upstream URL, a base path and a status (sandbox,
live, maintenance). Changes apply to the next request on every node, without a restart.`,
		importCmd,
		c.apiCommand("list", "list", "List the APIs", "  gatehouse apis list\n  gatehouse apis list -o json", nil),
		c.apiCommand("show", "show NAME", "Show an API: upstream, status, operations and the scopes they need", "  gatehouse apis show sim-swap", nil),
		updateCmd,
		c.apiCommand("delete", "delete NAME", "Stop serving an API and delete it", "  gatehouse apis delete my-api", nil),
	)
}

// apiCommand is one apis subcommand.
func (c *cli) apiCommand(sub, use, short, example string, flags func(*pflag.FlagSet, *apiFlags)) *cobra.Command {
	var af apiFlags
	what := map[string]string{"import": "OpenAPI file", "show": "API name", "update": "API name", "delete": "API name"}[sub]
	nargs := 1
	if sub == "list" {
		nargs = 0
	}
	cmd := &cobra.Command{Use: use, Short: short, Example: example, Args: exactArgs(nargs, what)}
	if flags != nil {
		flags(cmd.Flags(), &af)
	}
	out := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		return c.apis(cmd.Context(), sub, pos, af, out)
	}
	return cmd
}

func (c *cli) apis(ctx context.Context, sub string, pos []string, af apiFlags, o *output) error {
	stdout := c.stdout
	var err error
	var doc []byte
	switch {
	case sub == "import":
		if doc, err = os.ReadFile(pos[0]); err != nil {
			return usageError{msg: fmt.Sprintf("apis import: %v", err)}
		}
		if !af.upstream.set {
			return usageError{msg: "apis import: --upstream is required (an http(s) URL, or sandbox:)"}
		}
	case af.file.set:
		if doc, err = os.ReadFile(af.file.value); err != nil {
			return usageError{msg: fmt.Sprintf("apis update: %v", err)}
		}
	}

	ca, err := readPEMFlag(af.ca, "--upstream-ca")
	if err != nil {
		return err
	}
	clientCert, err := readPEMFlag(af.clientCert, "--upstream-client-cert")
	if err != nil {
		return err
	}
	clientKey, err := readPEMFlag(af.clientKey, "--upstream-client-key")
	if err != nil {
		return err
	}
	deref := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}

	p, err := open(ctx, c.configPath, c.getenv)
	if err != nil {
		return err
	}
	defer p.store.Close()

	var out any
	switch sub {
	case "import":
		out, err = p.APIs.Import(ctx, doc, gateway.ImportOptions{
			Name: af.name.value, BasePath: af.basePath.value, Upstream: af.upstream.value,
			Status: af.status.value, MaxBodyBytes: af.maxBody.value, ErrorMediaType: af.errorType.value,
			UpstreamCAPEM: deref(ca), UpstreamServerName: af.serverName.value,
			UpstreamClientCertPEM: deref(clientCert), UpstreamClientKeyPEM: deref(clientKey),
			AllowUnderscoreHeaders: af.allowUnderscore.value,
			BreakerFailures:        int(af.breakerFailures.value), BreakerPauseMS: af.breakerPause.ms(),
			BreakerMaxPauseMS: af.breakerMaxPause.ms(), TryLive: af.tryLive.value,
		})
	case "list":
		var list []*gateway.APIView
		if list, err = p.APIs.List(ctx); err == nil {
			if o.is("json") {
				out = map[string]any{"apis": list}
			} else {
				return printAPITable(stdout, list)
			}
		}
	case "show":
		out, err = p.APIs.Get(ctx, pos[0])
	case "update":
		u := gateway.APIUpdate{Document: doc}
		if af.basePath.set {
			u.BasePath = &af.basePath.value
		}
		if af.upstream.set {
			u.Upstream = &af.upstream.value
		}
		if af.status.set {
			u.Status = &af.status.value
		}
		if af.maxBody.set {
			u.MaxBodyBytes = &af.maxBody.value
		}
		if af.errorType.set {
			u.ErrorMediaType = &af.errorType.value
		}
		if af.serverName.set {
			u.UpstreamServerName = &af.serverName.value
		}
		if af.allowUnderscore.set {
			u.AllowUnderscoreHeaders = &af.allowUnderscore.value
		}
		if af.tryLive.set {
			u.TryLive = &af.tryLive.value
		}
		if af.breakerFailures.set {
			n := int(af.breakerFailures.value)
			u.BreakerFailures = &n
		}
		if af.breakerPause.set {
			ms := af.breakerPause.ms()
			u.BreakerPauseMS = &ms
		}
		if af.breakerMaxPause.set {
			ms := af.breakerMaxPause.ms()
			u.BreakerMaxPauseMS = &ms
		}
		u.UpstreamCAPEM, u.UpstreamClientCertPEM, u.UpstreamClientKeyPEM = ca, clientCert, clientKey
		if u.Deprecation, err = deprecationUpdate(ctx, p.APIs, pos[0], af); err != nil {
			break
		}
		out, err = p.APIs.Update(ctx, pos[0], u)
	case "delete":
		if err = p.APIs.Delete(ctx, pos[0]); err == nil {
			if o.is("json") {
				out = map[string]string{"deleted": pos[0]}
			} else {
				fmt.Fprintf(stdout, "deleted API %s\n", pos[0])
				return nil
			}
		}
	}
	if err != nil {
		return apisError(err, af)
	}
	if o.is("json") {
		return printJSON(stdout, out)
	}
	return printAPI(stdout, out.(*gateway.APIView))
}

// deprecationUpdate is the deprecation the flags ask for: nil when none is
// given, the zero Deprecation for --undeprecate, else the API's current
// one with the flags given changed.
func deprecationUpdate(ctx context.Context, apis *gateway.APIManager, name string, af apiFlags) (*gateway.Deprecation, error) {
	given := af.deprecatedAt.set || af.sunset.set || af.successor.set
	switch {
	case af.undeprecate.set && af.undeprecate.value && given:
		return nil, usageError{msg: "apis update: --undeprecate withdraws the deprecation; give it without --deprecated-at, --sunset or --successor"}
	case af.undeprecate.set && af.undeprecate.value:
		return &gateway.Deprecation{}, nil
	case !given:
		return nil, nil
	}
	cur, err := apis.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	d := gateway.Deprecation{}
	if cur.Deprecation != nil {
		d = *cur.Deprecation
	}
	if af.deprecatedAt.set {
		d.At = af.deprecatedAt.value
	}
	if af.sunset.set {
		d.Sunset = af.sunset.value
	}
	if af.successor.set {
		d.Successor = af.successor.value
	}
	return &d, nil
}

// apisError is operatorError, naming the flag (and file) an upstream option
// refusal is about instead of the API field.
func apisError(err error, af apiFlags) error {
	var p *problem.Error
	if !errors.As(err, &p) {
		return operatorError(err)
	}
	field, _ := p.Extra["field"].(string)
	f := upstreamFlagOf[field]
	if f == nil {
		return operatorError(err)
	}
	what := f.flag
	if file := map[string]string{"--upstream-ca": af.ca.value, "--upstream-client-cert": af.clientCert.value, "--upstream-client-key": af.clientKey.value}[f.flag]; f.file && file != "" {
		what += " " + file
	}
	return fmt.Errorf("%s (%s/%s): %s: %s", p.Entry.Title, p.Entry.Key, p.CauseID, what, strings.TrimPrefix(p.Message(), field+": "))
}

func printAPI(w io.Writer, a *gateway.APIView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "name:\t%s\n", a.Name)
	fmt.Fprintf(tw, "title:\t%s (version %s)\n", a.Title, a.Version)
	fmt.Fprintf(tw, "base path:\t%s\n", a.BasePath)
	fmt.Fprintf(tw, "upstream:\t%s\n", a.UpstreamURL)
	if a.UpstreamCAPEM != "" {
		fmt.Fprintf(tw, "upstream CA:\t%d certificate(s)\n", strings.Count(a.UpstreamCAPEM, "-----BEGIN CERTIFICATE-----"))
	}
	if a.UpstreamServerName != "" {
		fmt.Fprintf(tw, "upstream server name:\t%s\n", a.UpstreamServerName)
	}
	if a.UpstreamClientCertPEM != "" {
		fmt.Fprintf(tw, "upstream client cert:\tset (key set: %v)\n", a.UpstreamClientKeySet)
	}
	if a.BreakerFailures != 0 || a.BreakerPauseMS != 0 || a.BreakerMaxPauseMS != 0 {
		setting := func(ms int64) string {
			if ms == 0 {
				return "default"
			}
			return (time.Duration(ms) * time.Millisecond).String()
		}
		failures := "default"
		if a.BreakerFailures != 0 {
			failures = fmt.Sprint(a.BreakerFailures)
		}
		fmt.Fprintf(tw, "circuit breaker:\topens after %s failures; pause %s, doubling up to %s\n", failures, setting(a.BreakerPauseMS), setting(a.BreakerMaxPauseMS))
	}
	fmt.Fprintf(tw, "status:\t%s\n", a.Status)
	if d := a.Deprecation; d != nil {
		line := "since " + d.At.UTC().Format(time.RFC3339)
		if !d.Sunset.IsZero() {
			line += ", sunset " + d.Sunset.UTC().Format(time.RFC3339)
		}
		if d.Successor != "" {
			line += ", successor " + d.Successor
		}
		fmt.Fprintf(tw, "deprecated:\t%s\n", line)
	}
	fmt.Fprintf(tw, "scopes:\t%s\n", strings.Join(a.Scopes, " "))
	for _, op := range a.Operations {
		var alts []string
		for _, alt := range op.Scopes {
			alts = append(alts, strings.Join(alt, "+"))
		}
		fmt.Fprintf(tw, "  %s %s\t%s\n", op.Method, op.Path, strings.Join(alts, " | "))
	}
	return tw.Flush()
}

func printAPITable(w io.Writer, list []*gateway.APIView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tBASE PATH\tSTATUS\tUPSTREAM\tOPERATIONS\tTITLE")
	for _, a := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", a.Name, a.BasePath, a.Status, a.UpstreamURL, len(a.Operations), a.Title)
	}
	return tw.Flush()
}
