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
	// Circuit breaker.
	breakerFailures               int64Flag
	breakerPause, breakerMaxPause durationFlag
}

// registerUpstream adds the upstream connection flags, shared by import and update.
func (af *apiFlags) registerUpstream(cmd *commandEnv, update bool) {
	remove := ""
	if update {
		remove = "; empty removes it"
	}
	cmd.fs.Var(&af.ca, "upstream-ca", "PEM file of the CAs trusted for an https upstream (default: the system roots)"+remove)
	cmd.fs.Var(&af.serverName, "upstream-server-name", "TLS server name (SNI, certificate check) of an https upstream (default: the URL's host)"+remove)
	cmd.fs.Var(&af.clientCert, "upstream-client-cert", "PEM certificate chain presented to the upstream for mutual TLS (with --upstream-client-key)"+remove)
	cmd.fs.Var(&af.clientKey, "upstream-client-key", "PEM private key of --upstream-client-cert; stored encrypted with the system secret"+remove)
	cmd.fs.Var(&af.allowUnderscore, "allow-underscore-headers", "forward client header fields whose names contain _ (dropped by default)")
	cmd.fs.Var(&af.breakerFailures, "breaker-failures", "consecutive upstream failures that open the circuit (0: the platform's breaker_failures)")
	cmd.fs.Var(&af.breakerPause, "breaker-pause", "first pause of an open circuit before probes, e.g. 500ms (0: the platform's breaker_open_for)")
	cmd.fs.Var(&af.breakerMaxPause, "breaker-max-pause", "cap of the pause, which doubles after each failed probe (0: the platform's breaker_max_pause)")
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
		return nil, usageError{fmt.Sprintf("%s: %v", name, err)}
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

func (f *durationFlag) String() string { return f.value.String() }
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

func apisCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{"apis: want import, list, show, update or delete"}
	}
	sub := args[0]
	cmd := newCommand("apis " + sub)
	var af apiFlags
	switch sub {
	case "import":
		cmd.fs.Var(&af.name, "name", "API name (default: first segment of the base path)")
		cmd.fs.Var(&af.basePath, "base-path", "where the gateway serves it (default: the document's server path)")
		cmd.fs.Var(&af.upstream, "upstream", "upstream URL, or sandbox: for the built-in sandbox")
		cmd.fs.Var(&af.status, "status", "sandbox, live or maintenance")
		cmd.fs.Var(&af.maxBody, "max-body-bytes", "request body limit (0: default)")
		cmd.fs.Var(&af.errorType, "error-media-type", "Content-Type of error bodies: application/json or application/problem+json")
		af.registerUpstream(cmd, false)
	case "update":
		cmd.fs.Var(&af.file, "file", "a new OpenAPI document replacing the stored one")
		cmd.fs.Var(&af.basePath, "base-path", "new base path")
		cmd.fs.Var(&af.upstream, "upstream", "new upstream URL, or sandbox:")
		cmd.fs.Var(&af.status, "status", "sandbox, live or maintenance")
		cmd.fs.Var(&af.maxBody, "max-body-bytes", "request body limit (0: default)")
		cmd.fs.Var(&af.errorType, "error-media-type", "Content-Type of error bodies: application/json or application/problem+json")
		af.registerUpstream(cmd, true)
	case "list", "show", "delete":
	default:
		return usageError{fmt.Sprintf("apis: unknown subcommand %q", sub)}
	}
	pos, err := parseFlags(cmd.fs, args[1:])
	if err != nil {
		return err
	}
	want := map[string]int{"import": 1, "list": 0, "show": 1, "update": 1, "delete": 1}[sub]
	if len(pos) != want {
		what := map[string]string{"import": "the OpenAPI file", "show": "the API name", "update": "the API name", "delete": "the API name"}[sub]
		if want == 0 {
			return usageError{fmt.Sprintf("apis %s: unexpected arguments %q", sub, pos)}
		}
		return usageError{fmt.Sprintf("apis %s: give exactly one argument, %s", sub, what)}
	}
	var doc []byte
	switch {
	case sub == "import":
		if doc, err = os.ReadFile(pos[0]); err != nil {
			return usageError{fmt.Sprintf("apis import: %v", err)}
		}
		if !af.upstream.set {
			return usageError{"apis import: --upstream is required (an http(s) URL, or sandbox:)"}
		}
	case af.file.set:
		if doc, err = os.ReadFile(af.file.value); err != nil {
			return usageError{fmt.Sprintf("apis update: %v", err)}
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

	p, err := open(ctx, *cmd.configPath, getenv)
	if err != nil {
		return err
	}
	defer p.store.Close()

	var out any
	switch sub {
	case "import":
		out, err = p.apis.Import(ctx, doc, gateway.ImportOptions{
			Name: af.name.value, BasePath: af.basePath.value, Upstream: af.upstream.value,
			Status: af.status.value, MaxBodyBytes: af.maxBody.value, ErrorMediaType: af.errorType.value,
			UpstreamCAPEM: deref(ca), UpstreamServerName: af.serverName.value,
			UpstreamClientCertPEM: deref(clientCert), UpstreamClientKeyPEM: deref(clientKey),
			AllowUnderscoreHeaders: af.allowUnderscore.value,
			BreakerFailures:        int(af.breakerFailures.value), BreakerPauseMS: af.breakerPause.ms(),
			BreakerMaxPauseMS: af.breakerMaxPause.ms(),
		})
	case "list":
		var list []*gateway.APIView
		if list, err = p.apis.List(ctx); err == nil {
			if *cmd.asJSON {
				out = map[string]any{"apis": list}
			} else {
				return printAPITable(stdout, list)
			}
		}
	case "show":
		out, err = p.apis.Get(ctx, pos[0])
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
		out, err = p.apis.Update(ctx, pos[0], u)
	case "delete":
		if err = p.apis.Delete(ctx, pos[0]); err == nil {
			if *cmd.asJSON {
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
	if *cmd.asJSON {
		return printJSON(stdout, out)
	}
	return printAPI(stdout, out.(*gateway.APIView))
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
