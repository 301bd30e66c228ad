// Command gatehouse runs the API platform (serve) and its operator commands
// (clients, keys). Every command reads the same configuration, so operator
// commands work whether or not a server is running.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintln(os.Stderr, "gatehouse:", err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		os.Exit(1)
	}
}

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

const usageText = `gatehouse — sell APIs: OAuth 2.0 / OpenID Connect, gateway, developer portal.

Usage:
  gatehouse serve [--config FILE]
  gatehouse clients create --name NAME [--grant-types "client_credentials"] [--scopes "a b"]
                           [--redirect-uris "URI ..."] [--auth-method client_secret_basic|client_secret_post|private_key_jwt|none]
                           [--jwks FILE] [--json | --env]
  gatehouse clients list [--json]
  gatehouse clients show ID [--json]
  gatehouse clients update ID [--name ..] [--grant-types ..] [--scopes ..] [--redirect-uris ..]
                              [--auth-method ..] [--jwks FILE] [--status active|suspended] [--json]
  gatehouse clients rotate-secret ID [--json | --env]
  gatehouse clients delete ID
  gatehouse apis import FILE --upstream URL|sandbox: [--name NAME] [--base-path P] [--status sandbox|live|maintenance]
                            [--max-body-bytes N] [--error-media-type application/json|application/problem+json] [--json]
  gatehouse apis list [--json]
  gatehouse apis show NAME [--json]
  gatehouse apis update NAME [--file FILE] [--upstream URL] [--base-path P] [--status S] [--max-body-bytes N] [--json]
  gatehouse apis delete NAME
  gatehouse plans create --name NAME --rate PER_SECOND --burst N [--quota-day N] [--quota-month N]
                       [--price LABEL] [--description TEXT] [--requires-approval] [--json]
  gatehouse plans list|show NAME|update NAME [flags as create]|delete NAME [--json]
  gatehouse subscriptions create --client ID --api NAME --plan NAME [--json]
  gatehouse subscriptions list [--client ID] [--api NAME] [--json]
  gatehouse subscriptions show ID|update ID --plan NAME|approve ID|delete ID [--json]
  gatehouse usage [--client ID] [--api NAME] [--since 24h|2026-11-01] [--until …] [--json]
  gatehouse users create --username NAME --password PASSWORD [--phone +34600000001] [--json]
  gatehouse users list [--json]
  gatehouse users delete ID [--json]
  gatehouse keys list [--json]
  gatehouse keys rotate [--json]

Every command takes --config FILE; GATEHOUSE_* environment variables override the file.
`

// run is the whole program; main only adds the process around it, so tests
// call run directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return usageError{"no command given"}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "clients":
		return clientsCommand(ctx, args[1:], getenv, stdout)
	case "keys":
		return keysCommand(ctx, args[1:], getenv, stdout)
	case "apis":
		return apisCommand(ctx, args[1:], getenv, stdout)
	case "plans":
		return plansCommand(ctx, args[1:], getenv, stdout)
	case "subscriptions":
		return subscriptionsCommand(ctx, args[1:], getenv, stdout)
	case "usage":
		return usageCommand(ctx, args[1:], getenv, stdout)
	case "users":
		return usersCommand(ctx, args[1:], getenv, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usageText)
		return nil
	}
	fmt.Fprint(stderr, usageText)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}

// parseFlags parses flags that may stand before, between or after
// positional arguments, and returns the positional ones.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{fmt.Sprintf("%s: %v", fs.Name(), err)}
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}
