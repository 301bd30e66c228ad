package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// readmeBlock returns the first ```sh block after the given heading of the
// README.
func readmeBlock(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no %q section", heading)
	}
	_, block, ok := strings.Cut(section, "```sh\n")
	if !ok {
		t.Fatalf("README section %q has no sh block", heading)
	}
	block, _, _ = strings.Cut(block, "```")
	return block
}

// TestReadmeQuickStart runs the README's quick start exactly as printed
// against a server on the documented defaults (localhost:8080), so the
// README cannot drift from what the platform does.
func TestReadmeQuickStart(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary with go run; skipped in -short mode")
	}
	script := readmeBlock(t, "## Quick start")
	env := testEnv(t)
	env["GATEHOUSE_PUBLIC_ADDR"] = "127.0.0.1:8080"
	env["GATEHOUSE_ADMIN_ADDR"] = "127.0.0.1:8081"
	env["GATEHOUSE_ISSUER"] = "http://localhost:8080"
	if l, err := netListen("127.0.0.1:8080"); err != nil {
		t.Fatalf("the README's quick start needs port 8080, which is busy: %v", err)
	} else {
		l.Close()
	}
	startWithEnv(t, env)

	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "GATEHOUSE_DATA_DIR="+env["GATEHOUSE_DATA_DIR"])
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("quick start failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		`"token_type":"Bearer"`,
		`{"swapped":true}`,
		`{"swapped":false}`,
		`"code":"INVALID_ARGUMENT"`,
		`"code":"PERMISSION_DENIED"`,
		`"active":true`,
		`{"active":false}`,
		`"error":"invalid_client"`,
		`"error":"invalid_scope"`,
		`"cause":"unknown_scope"`,
		`"token_endpoint": "http://localhost:8080/oauth2/token"`,
		`"keys":[`,
		`"key": "invalid_client"`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("quick start output lacks %s:\n%s", want, out)
		}
	}
}

// TestReadmeCommandsParse: every `gatehouse …` line in the README's code
// blocks names a command that exists and parses with its flags and
// arguments, so an example cannot name a flag the CLI lost. (The quick
// start runs as printed in TestReadmeQuickStart.)
func TestReadmeCommandsParse(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	inBlock := false
	var pending string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			inBlock = !inBlock
			continue
		}
		if !inBlock {
			continue
		}
		if pending != "" {
			line = pending + " " + strings.TrimSpace(line)
			pending = ""
		}
		if strings.HasSuffix(line, "\\") {
			pending = strings.TrimSuffix(line, "\\")
			continue
		}
		if strings.HasPrefix(line, "gatehouse ") {
			lines = append(lines, line)
		}
	}
	if len(lines) < 10 {
		t.Fatalf("found %d gatehouse commands in the README; the parsing is broken", len(lines))
	}
	// The table of operator commands lists every group's subcommands.
	for _, group := range commandTree()[0].Commands() {
		if !group.HasSubCommands() {
			continue
		}
		_, row, ok := strings.Cut(string(b), "\n| `gatehouse "+group.Name()+"` |")
		row, _, _ = strings.Cut(row, "\n")
		if !ok {
			t.Errorf("the README's table of operator commands has no row for gatehouse %s", group.Name())
		}
		for _, sub := range group.Commands() {
			if !strings.Contains(row, "`"+sub.Name()) {
				t.Errorf("the README's row for gatehouse %s lacks %s", group.Name(), sub.Name())
			}
		}
	}
	for _, line := range lines {
		args, err := shellWords(line)
		if err != nil {
			t.Errorf("%s: %v", line, err)
			continue
		}
		root := (&cli{getenv: func(string) string { return "" }}).rootCommand()
		cmd, rest, err := root.Find(args[1:])
		if err == nil && cmd.HasSubCommands() {
			err = fmt.Errorf("%s is a group of commands", cmd.CommandPath())
		}
		if err == nil {
			err = cmd.ParseFlags(rest)
		}
		if err == nil {
			err = cmd.ValidateArgs(cmd.Flags().Args())
		}
		if err != nil {
			t.Errorf("README: %s: %v", line, err)
		}
	}
}

// shellWords splits a command line as a POSIX shell would for the README's
// examples: quotes, backslash escapes and a trailing # comment.
func shellWords(line string) ([]string, error) {
	var words []string
	var word strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		switch ch := line[i]; {
		case ch == ' ' || ch == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case ch == '#' && !inWord:
			return words, nil
		case ch == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated '")
			}
			word.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case ch == '"':
			end := strings.IndexByte(line[i+1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated \"")
			}
			word.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case ch == '\\' && i+1 < len(line):
			word.WriteByte(line[i+1])
			i++
			inWord = true
		default:
			word.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}
