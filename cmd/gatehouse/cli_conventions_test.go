package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// commandTree returns every command of the CLI but cobra's own (help,
// completion), root first.
func commandTree() []*cobra.Command {
	root := (&cli{getenv: func(string) string { return "" }}).rootCommand()
	var all []*cobra.Command
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		all = append(all, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return all
}

// TestHelpAtEveryLevel: --help works on every command and lists its
// subcommands, its flags and (on commands that act) examples; `help CMD`
// says the same. Help is an answer, not an error.
func TestHelpAtEveryLevel(t *testing.T) {
	t.Parallel()
	c := cliEnv{t: t, env: map[string]string{"GATEHOUSE_DATA_DIR": t.TempDir()}}
	for _, cmd := range commandTree() {
		path := strings.Fields(cmd.CommandPath())[1:]
		t.Run(strings.Join(append([]string{"gatehouse"}, path...), " "), func(t *testing.T) {
			out := c.must(append(path, "--help")...)
			about := cmd.Long
			if about == "" {
				about = cmd.Short
			}
			if !strings.Contains(out, "Usage:") || !strings.Contains(out, about) {
				t.Errorf("--help lacks the usage or the description:\n%s", out)
			}
			for _, sub := range cmd.Commands() {
				if !strings.Contains(out, "\n  "+sub.Name()+" ") {
					t.Errorf("--help does not list the subcommand %s:\n%s", sub.Name(), out)
				}
			}
			cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
				// pflag shows a `name` quoted in a usage without the quotes.
				if !strings.Contains(out, "--"+f.Name) || !strings.Contains(out, strings.ReplaceAll(f.Usage, "`", "")) {
					t.Errorf("--help does not list --%s with its description:\n%s", f.Name, out)
				}
			})
			if !cmd.HasSubCommands() && path[0] != "completion" && !strings.Contains(out, "Examples:\n  gatehouse "+strings.Join(path, " ")) {
				t.Errorf("--help has no example of the command:\n%s", out)
			}
			if cmd.HasSubCommands() && strings.Contains(out, cmd.CommandPath()+" [flags]") {
				t.Errorf("the help of a group offers to run it alone:\n%s", out)
			}
			if len(path) > 0 {
				if viaHelp := c.must(append([]string{"help"}, path...)...); viaHelp != out {
					t.Errorf("gatehouse help %s differs from --help:\n%s", strings.Join(path, " "), viaHelp)
				}
			}
		})
	}
	// The two complaints of issue 11 §5.
	if out := c.must("clients", "--help"); !strings.Contains(out, "rotate-secret") || !strings.Contains(out, "--config") {
		t.Errorf("clients --help:\n%s", out)
	}
	out := c.must("clients", "create", "--help")
	for _, flag := range []string{"--name", "--grant-types", "--scopes", "--redirect-uris", "--auth-method", "--jwks", "--output", "--json", "--env", "--config"} {
		if !strings.Contains(out, flag) {
			t.Errorf("clients create --help lacks %s:\n%s", flag, out)
		}
	}
}

// TestOutputFlag: every command that prints records takes --output
// json|table, with --json as its alias, and refuses another format.
func TestOutputFlag(t *testing.T) {
	t.Parallel()
	for _, cmd := range commandTree() {
		if cmd.HasSubCommands() || cmd.Name() == "serve" || cmd.Parent().Name() == "completion" {
			continue
		}
		o, j := cmd.Flags().Lookup("output"), cmd.Flags().Lookup("json")
		if o == nil || j == nil || o.Shorthand != "o" || o.DefValue != "table" {
			t.Errorf("%s: --output/-o (default table) and --json = %v, %v; want both", cmd.CommandPath(), o, j)
		}
	}

	c := cliEnv{t: t, env: map[string]string{"GATEHOUSE_DATA_DIR": t.TempDir(), "GATEHOUSE_LOG_LEVEL": "warn"}}
	var made cliClient
	c.mustJSONOut(&made, "clients", "create", "--name", "out", "--output", "json")
	if made.ClientID == "" || made.ClientSecret == nil {
		t.Fatalf("clients create --output json = %+v", made)
	}
	for _, args := range [][]string{
		{"clients", "list"}, {"apis", "list"}, {"plans", "list"}, {"subscriptions", "list"}, {"orders", "list"},
		{"users", "list"}, {"keys", "list"}, {"usage"}, {"clients", "show", made.ClientID}, {"plans", "show", "sandbox"},
	} {
		viaJSON := c.must(append(args, "--json")...)
		if !json.Valid([]byte(viaJSON)) {
			t.Errorf("gatehouse %s --json printed non-JSON %q", strings.Join(args, " "), viaJSON)
		}
		table := c.must(append(args, "--output", "table")...)
		if json.Valid([]byte(table)) {
			t.Errorf("gatehouse %s --output table printed JSON %q", strings.Join(args, " "), table)
		}
		if args[0] == "usage" {
			continue // it prints the time "now"; the same output twice is not expected
		}
		for _, same := range [][]string{{"--output", "json"}, {"-o", "json"}, {"--output=json"}} {
			if out := c.must(append(args, same...)...); out != viaJSON {
				t.Errorf("gatehouse %s %s printed\n%s\nwant what --json prints:\n%s", strings.Join(args, " "), strings.Join(same, " "), out, viaJSON)
			}
		}
		if table != c.must(args...) {
			t.Errorf("gatehouse %s --output table printed %q; want the default text", strings.Join(args, " "), table)
		}
	}
	if out := c.must("clients", "create", "--name", "env", "-o", "env"); !strings.HasPrefix(out, "CLIENT_ID=gh_") {
		t.Errorf("clients create -o env printed %q", out)
	}
	for _, args := range [][]string{
		{"clients", "list", "--output", "yaml"},
		{"clients", "list", "--output", "env"}, // env is for the commands that make a secret
		{"keys", "list", "--output"},
	} {
		_, err := c.run(args...)
		if !isUsageError(err) || !strings.Contains(err.Error(), "--output") {
			t.Errorf("gatehouse %s: err = %v; want a usage error naming --output", strings.Join(args, " "), err)
		}
	}
	if _, err := c.run("clients", "list", "--output", "yaml"); err == nil || !strings.Contains(err.Error(), "want table or json") {
		t.Errorf("--output yaml: err = %v; want it to name the formats", err)
	}
}

// TestUsersPasswordStdin: users create reads the password from standard
// input, and the user can sign in with it.
func TestUsersPasswordStdin(t *testing.T) {
	t.Parallel()
	env := map[string]string{"GATEHOUSE_DATA_DIR": t.TempDir(), "GATEHOUSE_LOG_LEVEL": "warn"}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	runIn := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		err := runIO(ctx, args, getenv, strings.NewReader(stdin), &out, io.Discard)
		return out.String(), err
	}
	const pw = "correct horse battery staple"
	if _, err := runIn(pw+"\n", "users", "create", "--username", "alice", "--password-stdin", "--json"); err != nil {
		t.Fatal(err)
	}
	// Without a final newline, and with CRLF.
	if _, err := runIn("no newline at all", "users", "create", "--username", "bob", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	if _, err := runIn("windows line\r\nignored second line\n", "users", "create", "--username", "carol", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	p, err := open(ctx, "", getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer p.store.Close()
	for user, password := range map[string]string{"alice": pw, "bob": "no newline at all", "carol": "windows line"} {
		if _, err := p.Users.Authenticate(ctx, user, password); err != nil {
			t.Errorf("%s cannot sign in with the password given on stdin: %v", user, err)
		}
	}

	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"users", "create", "--username", "dora", "--password-stdin"}, "read no password"},
		{"\n", []string{"users", "create", "--username", "dora", "--password-stdin"}, "read no password"},
		{"x\n", []string{"users", "create", "--username", "dora", "--password-stdin", "--password", "y"}, "not both"},
		// Standard input is not a terminal: no prompt, a usage error.
		{"", []string{"users", "create", "--username", "dora"}, "--password-stdin"},
	} {
		_, err := runIn(tc.stdin, tc.args...)
		if !isUsageError(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("stdin %q, gatehouse %s: err = %v; want a usage error containing %q", tc.stdin, strings.Join(tc.args, " "), err, tc.want)
		}
	}
	if _, err := runIn("short\n", "users", "create", "--username", "dora", "--password-stdin"); err == nil || isUsageError(err) || !strings.Contains(err.Error(), "password") {
		t.Errorf("a short password on stdin: err = %v; want the registry's refusal", err)
	}
}

// TestVersion: version prints the module version and the Go version; a
// binary built in a Git checkout names its commit.
func TestVersion(t *testing.T) {
	t.Parallel()
	c := cliEnv{t: t, env: map[string]string{}}
	var v buildVersion
	c.mustJSONOut(&v, "version", "--output", "json")
	if v.Version == "" || v.Go != runtime.Version() {
		t.Errorf("version -o json = %+v; want a version and %s", v, runtime.Version())
	}
	if out := c.must("version"); !strings.HasPrefix(out, "gatehouse "+v.Version+"\n") || !strings.Contains(out, "go: "+runtime.Version()) {
		t.Errorf("version printed %q", out)
	}
	if testing.Short() {
		t.Skip("builds the binary; skipped in -short mode")
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not in a Git checkout (%v): no commit to compare", err)
	}
	// The go command records the commit only when the repository's .git
	// is a directory, not the file of a linked worktree.
	if fi, err := os.Stat(filepath.Join("..", "..", ".git")); err != nil || !fi.IsDir() {
		t.Skip("../../.git is not a directory (a git worktree?): go build records no commit here")
	}
	bin := filepath.Join(t.TempDir(), "gatehouse")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -buildvcs=true: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("version --json printed %q: %v", out, err)
	}
	if want := strings.TrimSpace(string(head)); v.Commit != want || v.CommitTime == "" {
		t.Errorf("version --json = %+v; want commit %s and its time", v, want)
	}
}

// TestCompletion: completion scripts for bash, zsh and fish, and the
// completions they ask the binary for.
func TestCompletion(t *testing.T) {
	t.Parallel()
	c := cliEnv{t: t, env: map[string]string{"GATEHOUSE_DATA_DIR": t.TempDir()}}
	for shell, want := range map[string]string{
		"bash": "__start_gatehouse",
		"zsh":  "#compdef gatehouse",
		"fish": "complete -c gatehouse",
	} {
		if out := c.must("completion", shell); !strings.Contains(out, want) {
			t.Errorf("completion %s lacks %q", shell, want)
		}
	}
	// What the scripts run on <TAB>.
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", ""}, []string{"clients", "apis", "plans", "subscriptions", "usage", "users", "keys", "serve", "version", "completion"}},
		{[]string{"__complete", "clients", ""}, []string{"create", "list", "show", "update", "rotate-secret", "delete"}},
		{[]string{"__complete", "clients", "create", "--"}, []string{"--name", "--scopes", "--output", "--config"}},
		{[]string{"__complete", "keys", "list", "--output", ""}, []string{"table\n", "json\n"}},
		{[]string{"__complete", "apis", "update", "x", "--status", ""}, []string{"sandbox", "live", "maintenance"}},
	} {
		out := c.must(tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("gatehouse %s offers no %q:\n%s", strings.Join(tc.args, " "), w, out)
			}
		}
	}
}

// TestCLIErrorsFirst runs the binary: a mistake prints one line on stderr
// (what was wrong and where to read more), nothing on stdout, and exits
// with status 2; a failure of the command itself exits with status 1, also
// in one line.
func TestCLIErrorsFirst(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary; skipped in -short mode")
	}
	bin := buildBinary(t)
	env := processEnv(map[string]string{"GATEHOUSE_DATA_DIR": t.TempDir(), "GATEHOUSE_LOG_LEVEL": "warn"})
	for _, tc := range []struct {
		args   []string
		status int
		want   []string // in the one line of stderr
	}{
		{[]string{"frobnicate"}, 2, []string{`unknown command "frobnicate"`, "see 'gatehouse --help'"}},
		{[]string{"clints"}, 2, []string{`unknown command "clints"`, "did you mean clients?"}},
		{nil, 2, []string{"no command given", "clients"}},
		{[]string{"clients"}, 2, []string{"want create", "see 'gatehouse clients --help'"}},
		{[]string{"clients", "frob"}, 2, []string{`unknown subcommand "frob"`}},
		{[]string{"clients", "create", "--nme", "x"}, 2, []string{"unknown flag: --nme", "see 'gatehouse clients create --help'"}},
		{[]string{"clients", "show"}, 2, []string{"give exactly one client id"}},
		{[]string{"completion"}, 2, []string{"completion: want bash, fish, powershell or zsh"}},
		{[]string{"completion", "tcsh"}, 2, []string{`unknown subcommand "tcsh"`}},
		{[]string{"plans", "create", "--rate", "fast"}, 2, []string{`invalid argument "fast" for "--rate"`}},
		{[]string{"clients", "show", "gh_unknown"}, 1, []string{"not_found", "gh_unknown"}},
		{[]string{"clients", "create", "--name", "x", "--grant-types", "password"}, 1, []string{"bad_request/invalid_parameter", "grant_types"}},
	} {
		cmd := exec.Command(bin, tc.args...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != tc.status {
			t.Errorf("gatehouse %s: %v; want exit status %d", strings.Join(tc.args, " "), err, tc.status)
		}
		lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "gatehouse: ") {
			t.Errorf("gatehouse %s: stderr is %d lines; want one line starting gatehouse: \n%s", strings.Join(tc.args, " "), len(lines), stderr.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(lines[0], w) {
				t.Errorf("gatehouse %s: stderr %q lacks %q", strings.Join(tc.args, " "), lines[0], w)
			}
		}
		if stdout.Len() != 0 {
			t.Errorf("gatehouse %s printed on stdout: %q", strings.Join(tc.args, " "), stdout.String())
		}
	}
	// Help goes to stdout and succeeds.
	cmd := exec.Command(bin, "clients", "create", "--help")
	cmd.Env = env
	if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), "--redirect-uris") {
		t.Errorf("clients create --help: %v\n%s", err, out)
	}
	// --password-stdin through a real pipe.
	cmd = exec.Command(bin, "users", "create", "--username", "piped", "--password-stdin")
	cmd.Env = env
	cmd.Stdin = strings.NewReader("piped password\n")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "piped") {
		t.Errorf("users create --password-stdin: %v\n%s", err, out)
	}
}
