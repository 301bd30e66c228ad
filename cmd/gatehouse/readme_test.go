package main

import (
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
