package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"gatehouse/internal/oauth"
)

// usersCommand manages end users, the subscribers who sign in on the
// authorization pages of the three-legged flows.
func (c *cli) usersCommand() *cobra.Command {
	var username, password, phone stringFlag
	var passwordStdin bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an end user (a subscriber who signs in on the authorization pages)",
		Long: `Create an end user. The password (at least 8 characters, stored as an argon2id hash) is
read from standard input with --password-stdin, asked for when standard input is a terminal,
or given with --password (which leaves it in the shell's history and the process list).`,
		Example: `  gatehouse users create --username alice --phone +34600000002            # asks for the password
  printf '%s\n' "$ALICE_PASSWORD" | gatehouse users create --username alice --password-stdin
  gatehouse users create --username alice --password 'correct-horse-battery' --phone +34600000002`,
		Args: exactArgs(0, ""),
	}
	create.Flags().Var(&username, "username", "sign-in name (letters, digits, . _ @ + -) (required)")
	create.Flags().Var(&password, "password", "password, at least 8 characters (prefer --password-stdin or the prompt)")
	create.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	create.Flags().Var(&phone, "phone", "the subscriber's phone number in E.164 (+34600000001)")
	createOut := addOutput(create)
	create.RunE = func(cmd *cobra.Command, _ []string) error {
		if !username.set {
			return usageError{msg: "users create: --username is required, and a password (--password-stdin, the prompt or --password)"}
		}
		pw, err := c.readPassword(password, passwordStdin)
		if err != nil {
			return err
		}
		return c.users(cmd.Context(), "create", nil, username.value, pw, phone.value, createOut)
	}

	list := &cobra.Command{Use: "list", Short: "List the end users", Example: "  gatehouse users list\n  gatehouse users list -o json", Args: exactArgs(0, "")}
	listOut := addOutput(list)
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		return c.users(cmd.Context(), "list", nil, "", "", "", listOut)
	}
	del := &cobra.Command{Use: "delete ID", Short: "Delete an end user; their sessions and grants end", Example: "  gatehouse users delete usr_…", Args: exactArgs(1, "user id")}
	delOut := addOutput(del)
	del.RunE = func(cmd *cobra.Command, pos []string) error {
		return c.users(cmd.Context(), "delete", pos, "", "", "", delOut)
	}
	return group("users", "Manage end users, who sign in and consent in the three-legged flows", "", create, list, del)
}

// readPassword returns the password of --password, of --password-stdin's
// first line, or typed at a prompt when standard input is a terminal.
func (c *cli) readPassword(flagValue stringFlag, fromStdin bool) (string, error) {
	switch {
	case flagValue.set && fromStdin:
		return "", usageError{msg: "users create: give --password or --password-stdin, not both"}
	case flagValue.set:
		return flagValue.value, nil
	case fromStdin:
		line, err := bufio.NewReader(c.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading the password from standard input: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return "", usageError{msg: "users create: --password-stdin read no password; write it on standard input's first line"}
		}
		return line, nil
	}
	f, ok := c.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usageError{msg: "users create: a password is required: --password-stdin (reads standard input), or run it in a terminal to be asked"}
	}
	fmt.Fprint(c.stderr, "Password: ")
	first, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(c.stderr)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	fmt.Fprint(c.stderr, "Password again: ")
	again, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(c.stderr)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if string(first) != string(again) {
		return "", usageError{msg: "users create: the two passwords differ; nothing was created"}
	}
	return string(first), nil
}

func (c *cli) users(ctx context.Context, sub string, pos []string, username, password, phone string, o *output) error {
	stdout := c.stdout
	p, err := open(ctx, c.configPath, c.getenv)
	if err != nil {
		return err
	}
	defer p.store.Close()

	switch sub {
	case "create":
		u, err := p.Users.Create(ctx, username, password, phone)
		if err != nil {
			return operatorError(err)
		}
		if o.is("json") {
			return printJSON(stdout, u)
		}
		return printUserTable(stdout, []*oauth.UserView{u})
	case "list":
		list, err := p.Users.List(ctx)
		if err != nil {
			return operatorError(err)
		}
		if o.is("json") {
			return printJSON(stdout, map[string]any{"users": list})
		}
		return printUserTable(stdout, list)
	}
	if err := p.Users.Delete(ctx, pos[0]); err != nil {
		return operatorError(err)
	}
	if o.is("json") {
		return printJSON(stdout, map[string]string{"deleted": pos[0]})
	}
	fmt.Fprintf(stdout, "deleted user %s\n", pos[0])
	return nil
}

func printUserTable(w io.Writer, list []*oauth.UserView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSERNAME\tPHONE\tPASSWORD\tCREATED")
	for _, u := range list {
		pw, phone := "no", u.PhoneNumber
		if u.HasPassword {
			pw = "yes"
		}
		if phone == "" {
			phone = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.ID, u.Username, phone, pw, u.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}
