// Command gatehouse runs the API platform (serve) and its operator commands
// (clients, apis, plans, subscriptions, orders, usage, users, keys). Every
// command reads the same configuration, so operator commands work whether
// or not a server is running.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runIO(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		// The error comes first and alone: what was wrong and what to do.
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		os.Exit(exitCode(err))
	}
}

// exitCode is 2 for a mistake in the command line, 1 for any other failure.
func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// usageError is a mistake in the command line (exit status 2). run adds
// where to read about the command that was mistyped.
type usageError struct {
	msg string
	// help is the command whose --help tells how to use it ("gatehouse
	// clients create"); empty until run names it.
	help string
}

func (u usageError) Error() string {
	if u.help == "" {
		return u.msg
	}
	return fmt.Sprintf("%s (see '%s --help')", u.msg, u.help)
}

// run is the whole program with an empty standard input; main only adds the
// process around it, so tests call run (or runIO) directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runIO(ctx, args, getenv, strings.NewReader(""), stdout, stderr)
}

// runIO is run with a standard input, which --password-stdin and the
// password prompt read.
func runIO(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := &cli{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := c.rootCommand()
	if args == nil {
		args = []string{} // nil would make cobra read os.Args
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	var u usageError
	if errors.As(err, &u) && u.help == "" && cmd != nil {
		u.help = cmd.CommandPath()
		return u
	}
	return err
}

// cli is what every command reads: the process's environment and streams,
// and the flags every command shares.
type cli struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
	// configPath is --config, a flag of every command.
	configPath string
}

// rootCommand builds the command tree.
func (c *cli) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "gatehouse",
		Short: "Sell APIs: OAuth 2.0 / OpenID Connect, gateway, developer portal",
		Long: `gatehouse sells APIs: an OAuth 2.0 / OpenID Connect server, an API gateway enforcing
tokens, scopes, plans and limits, and a developer portal, in one binary.

"gatehouse serve" runs the platform; the other commands change what it serves. They open
the database themselves, so they work whether or not a server is running.

Every command takes --config FILE (or GATEHOUSE_CONFIG); GATEHOUSE_* environment variables
override the file.

Exit status: 0 done, 1 failed (the message names the registry entry of a refusal), 2 a
mistake in the command line.`,
		Example: `  gatehouse serve
  eval "$(gatehouse clients create --name demo --scopes "sim-swap:check" --env)"
  gatehouse apis list
  gatehouse usage --since 24h --output json`,
		Args:                       groupArgs,
		RunE:                       func(*cobra.Command, []string) error { return nil }, // groupArgs refuses first
		SuggestionsMinimumDistance: 2,
		// main prints the error, alone: no usage text after it.
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.PersistentFlags().StringVar(&c.configPath, "config", "", "YAML configuration `file` (default: GATEHOUSE_CONFIG, else built-in defaults)")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError{msg: fmt.Sprintf("%s: %v", commandName(cmd), err)}
	})
	// A group's usage shows "gatehouse clients [command]", not the
	// "[flags]" line of its runnable stand-in (see groupArgs).
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(), "{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
	root.AddCommand(
		c.serveCommand(),
		c.clientsCommand(),
		c.apisCommand(),
		c.plansCommand(),
		c.subscriptionsCommand(),
		c.ordersCommand(),
		c.usageCommand(),
		c.usersCommand(),
		c.keysCommand(),
		c.versionCommand(),
	)
	// Before cobra's completion command is made: it keeps the output it
	// finds.
	root.SetIn(c.stdin)
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	root.InitDefaultCompletionCmd()
	for _, sub := range root.Commands() {
		if sub.Name() == "completion" {
			// A missing or unknown shell is a mistake, as for the other
			// groups (cobra would print the help and succeed).
			sub.Example = "  source <(gatehouse completion bash)\n  gatehouse completion zsh > \"${fpath[1]}/_gatehouse\"\n  gatehouse completion fish > ~/.config/fish/completions/gatehouse.fish"
			sub.Args = groupArgs
			sub.RunE = func(*cobra.Command, []string) error { return nil }
			sub.SuggestionsMinimumDistance = 2
		}
	}
	return root
}

// groupArgs is the Args of a command that only holds subcommands: reached
// with no subcommand, or an unknown one, it is a usage error (cobra would
// print the help and succeed).
func groupArgs(cmd *cobra.Command, args []string) error {
	var names []string
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() && sub.Name() != "help" && sub.Name() != "completion" {
			names = append(names, sub.Name())
		}
	}
	want := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	if len(args) == 0 {
		if !cmd.HasParent() {
			return usageError{msg: "no command given; want " + want}
		}
		return usageError{msg: fmt.Sprintf("%s: want %s", commandName(cmd), want)}
	}
	msg := fmt.Sprintf("unknown command %q", args[0])
	if cmd.HasParent() {
		msg = fmt.Sprintf("%s: unknown subcommand %q", commandName(cmd), args[0])
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		return usageError{msg: fmt.Sprintf("%s; did you mean %s?", msg, strings.Join(s, " or "))}
	}
	return usageError{msg: fmt.Sprintf("%s; want %s", msg, want)}
}

// group is a command that holds subcommands.
func group(use, short, long string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  groupArgs,
		RunE:  func(*cobra.Command, []string) error { return nil },
		// groupArgs suggests the subcommands this close to a mistyped one.
		SuggestionsMinimumDistance: 2,
	}
	cmd.AddCommand(subs...)
	return cmd
}

// commandName is the command's path without the program's name: "clients
// create".
func commandName(cmd *cobra.Command) string {
	name := cmd.CommandPath()
	if i := strings.IndexByte(name, ' '); i >= 0 {
		return name[i+1:]
	}
	return name
}

// exactArgs accepts n positional arguments (0 or 1); what names the one.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == n:
			return nil
		case n == 0:
			return usageError{msg: fmt.Sprintf("%s: unexpected arguments %q", commandName(cmd), args)}
		default:
			return usageError{msg: fmt.Sprintf("%s: give exactly one %s", commandName(cmd), what)}
		}
	}
}
