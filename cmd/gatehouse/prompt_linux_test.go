package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns the two ends of a new pseudo-terminal: what the user
// types is written to term, the program reads it from tty.
func openPTY(t *testing.T) (term, tty *os.File) {
	t.Helper()
	term, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { term.Close() })
	if err := unix.IoctlSetPointerInt(int(term.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(term.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return term, tty
}

// TestUsersPasswordPrompt: with standard input a terminal and no password
// flag, users create asks for the password twice (term.ReadPassword
// turns the echo off; the test types before it, so it cannot see that).
func TestUsersPasswordPrompt(t *testing.T) {
	t.Parallel()
	env := map[string]string{"GATEHOUSE_DATA_DIR": t.TempDir(), "GATEHOUSE_LOG_LEVEL": "warn"}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	create := func(username, typed string) (string, error) {
		term, tty := openPTY(t)
		// The line discipline keeps what is typed until it is read.
		if _, err := term.WriteString(typed); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		err := runIO(ctx, []string{"users", "create", "--username", username}, getenv, tty, &stdout, &stderr)
		return stderr.String(), err
	}
	prompts, err := create("erin", "typed at the prompt\ntyped at the prompt\n")
	if err != nil {
		t.Fatal(err)
	}
	if prompts != "Password: \nPassword again: \n" {
		t.Errorf("the prompts on stderr were %q", prompts)
	}
	p, err := open(ctx, "", getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer p.store.Close()
	if _, err := p.Users.Authenticate(ctx, "erin", "typed at the prompt"); err != nil {
		t.Errorf("erin cannot sign in with the password typed at the prompt: %v", err)
	}
	if _, err := create("frank", "one password\nanother one\n"); !isUsageError(err) || !strings.Contains(err.Error(), "differ") {
		t.Errorf("two different passwords: err = %v; want a usage error saying they differ", err)
	}
	users, err := p.Users.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 {
		t.Errorf("%d users after a refused prompt; want 1 (erin)", len(users))
	}
}
