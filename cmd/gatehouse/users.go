package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"gatehouse/internal/oauth"
)

// usersCommand manages end users, the subscribers who sign in on the
// authorization pages of the three-legged flows.
func usersCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{"users: want create, list or delete"}
	}
	sub := args[0]
	cmd := newCommand("users " + sub)
	var username, password, phone stringFlag
	switch sub {
	case "create":
		cmd.fs.Var(&username, "username", "sign-in name (letters, digits, . _ @ + -)")
		cmd.fs.Var(&password, "password", "password, at least 8 characters (stored as an argon2id hash)")
		cmd.fs.Var(&phone, "phone", "the subscriber's phone number in E.164 (+34600000001)")
	case "list", "delete":
	default:
		return usageError{fmt.Sprintf("users: unknown subcommand %q", sub)}
	}
	pos, err := parseFlags(cmd.fs, args[1:])
	if err != nil {
		return err
	}
	switch {
	case sub == "delete" && len(pos) != 1:
		return usageError{"users delete: give exactly one user id"}
	case sub != "delete" && len(pos) != 0:
		return usageError{fmt.Sprintf("users %s: unexpected arguments %q", sub, pos)}
	case sub == "create" && (!username.set || !password.set):
		return usageError{"users create: --username and --password are required"}
	}
	p, err := open(ctx, *cmd.configPath, getenv)
	if err != nil {
		return err
	}
	defer p.store.Close()

	switch sub {
	case "create":
		u, err := p.users.Create(ctx, username.value, password.value, phone.value)
		if err != nil {
			return operatorError(err)
		}
		if *cmd.asJSON {
			return printJSON(stdout, u)
		}
		return printUserTable(stdout, []*oauth.UserView{u})
	case "list":
		list, err := p.users.List(ctx)
		if err != nil {
			return operatorError(err)
		}
		if *cmd.asJSON {
			return printJSON(stdout, map[string]any{"users": list})
		}
		return printUserTable(stdout, list)
	}
	if err := p.users.Delete(ctx, pos[0]); err != nil {
		return operatorError(err)
	}
	if *cmd.asJSON {
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
