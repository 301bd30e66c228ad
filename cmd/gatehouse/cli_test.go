package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cliEnv runs operator commands through run, without a server, with the
// environment env.
type cliEnv struct {
	t   *testing.T
	env map[string]string
}

func (c cliEnv) run(args ...string) (string, error) {
	var out bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return c.env[k] }, &out, io.Discard)
	return out.String(), err
}

func (c cliEnv) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("gatehouse %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// mustJSONOut runs a command that prints JSON and decodes it.
func (c cliEnv) mustJSONOut(v any, args ...string) string {
	c.t.Helper()
	out := c.must(args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("gatehouse %s printed non-JSON %q: %v", strings.Join(args, " "), out, err)
	}
	return out
}

// textField returns the value of a "key:  value" line of the text output.
func textField(out, key string) string {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			v = strings.TrimSpace(v)
			if i := strings.Index(v, "  "); i >= 0 { // "(shown once…)" note
				v = v[:i]
			}
			return v
		}
	}
	return ""
}

// cliClient is a client as the CLI prints it with --json.
type cliClient struct {
	ClientID     string   `json:"client_id"`
	ClientSecret *string  `json:"client_secret"`
	Name         string   `json:"name"`
	Status       string   `json:"status"`
	Scopes       []string `json:"scopes"`
	GrantTypes   []string `json:"grant_types"`
	AuthMethod   string   `json:"token_endpoint_auth_method"`
	PrevExpires  *string  `json:"previous_secret_expires_at"`
}

func isUsageError(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

// TestCLI drives the operator commands with no server running.
func TestCLI(t *testing.T) {
	t.Parallel()
	c := cliEnv{t: t, env: map[string]string{"GATEHOUSE_DATA_DIR": t.TempDir(), "GATEHOUSE_LOG_LEVEL": "warn"}}

	// create --json: the secret is shown once.
	var a cliClient
	c.mustJSONOut(&a, "clients", "create", "--name", "App A", "--scopes", "sim-swap:check,sim-swap:retrieve-date", "--json")
	if a.ClientID == "" || a.ClientSecret == nil || *a.ClientSecret == "" || a.Name != "App A" || a.Status != "active" {
		t.Fatalf("create --json = %+v", a)
	}
	if strings.Join(a.Scopes, " ") != "sim-swap:check sim-swap:retrieve-date" || strings.Join(a.GrantTypes, " ") != "client_credentials" || a.AuthMethod != "client_secret_basic" {
		t.Errorf("create --json defaults/scopes = %+v", a)
	}

	// create as text.
	out := c.must("clients", "create", "--name", "App B", "--auth-method", "client_secret_post")
	bID, bSecret := textField(out, "client_id"), textField(out, "client_secret")
	if bID == "" || bSecret == "" || !strings.Contains(out, "shown once") || textField(out, "auth method") != "client_secret_post" {
		t.Fatalf("create (text) printed %q", out)
	}
	// create --env, for a shell's eval.
	out = c.must("clients", "create", "--name", "App C", "--env")
	if !strings.HasPrefix(out, "CLIENT_ID=gh_") || !strings.Contains(out, "\nCLIENT_SECRET=") {
		t.Errorf("create --env printed %q", out)
	}
	cID := strings.TrimPrefix(strings.SplitN(out, "\n", 2)[0], "CLIENT_ID=")

	// list, text and JSON.
	out = c.must("clients", "list")
	for _, want := range []string{"CLIENT ID", a.ClientID, "App A", bID, "App B", cID} {
		if !strings.Contains(out, want) {
			t.Errorf("clients list lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, *a.ClientSecret) || strings.Contains(out, bSecret) {
		t.Error("clients list prints a secret")
	}
	var list struct {
		Clients []cliClient `json:"clients"`
	}
	raw := c.mustJSONOut(&list, "clients", "list", "--json")
	if len(list.Clients) != 3 {
		t.Errorf("clients list --json has %d clients; want 3", len(list.Clients))
	}
	if strings.Contains(raw, `"client_secret":`) {
		t.Error("clients list --json prints client_secret")
	}

	// show, text and JSON: no secret.
	out = c.must("clients", "show", a.ClientID)
	if textField(out, "client_id") != a.ClientID || textField(out, "name") != "App A" || strings.Contains(out, "client_secret:") {
		t.Errorf("clients show printed %q", out)
	}
	var shown cliClient
	c.mustJSONOut(&shown, "clients", "show", a.ClientID, "--json")
	if shown.ClientID != a.ClientID || shown.ClientSecret != nil {
		t.Errorf("clients show --json = %+v; want the client without a secret", shown)
	}
	// Flags may come before the id.
	c.mustJSONOut(&shown, "clients", "show", "--json", a.ClientID)

	// update.
	out = c.must("clients", "update", a.ClientID, "--name", "App A2", "--status", "suspended", "--scopes", "sim-swap:check")
	if textField(out, "name") != "App A2" || textField(out, "status") != "suspended" || textField(out, "scopes") != "sim-swap:check" {
		t.Errorf("clients update printed %q", out)
	}
	var upd cliClient
	c.mustJSONOut(&upd, "clients", "update", a.ClientID, "--status", "active", "--json")
	if upd.Status != "active" || upd.Name != "App A2" || upd.ClientSecret != nil {
		t.Errorf("clients update --json = %+v; want active, name kept, no secret", upd)
	}

	// rotate-secret, text and JSON.
	out = c.must("clients", "rotate-secret", bID)
	rotated := textField(out, "client_secret")
	if rotated == "" || rotated == bSecret || !strings.Contains(out, "previous secret valid until") {
		t.Errorf("rotate-secret printed %q", out)
	}
	var rot cliClient
	c.mustJSONOut(&rot, "clients", "rotate-secret", bID, "--json")
	if rot.ClientSecret == nil || *rot.ClientSecret == rotated || rot.PrevExpires == nil {
		t.Errorf("rotate-secret --json = %+v; want a new secret and previous_secret_expires_at", rot)
	}
	out = c.must("clients", "rotate-secret", a.ClientID, "--env")
	if !strings.Contains(out, "CLIENT_ID="+a.ClientID+"\n") || !strings.Contains(out, "CLIENT_SECRET=") {
		t.Errorf("rotate-secret --env printed %q", out)
	}

	// delete, text and JSON.
	if out := c.must("clients", "delete", bID); !strings.Contains(out, bID) {
		t.Errorf("delete printed %q", out)
	}
	var del map[string]string
	c.mustJSONOut(&del, "clients", "delete", cID, "--json")
	if del["deleted"] != cID {
		t.Errorf("delete --json = %v", del)
	}
	c.mustJSONOut(&list, "clients", "list", "--json")
	if len(list.Clients) != 1 || list.Clients[0].ClientID != a.ClientID {
		t.Errorf("after deletes, list = %+v; want only %s", list.Clients, a.ClientID)
	}

	// Keys.
	var keysOut struct {
		Keys []struct {
			KID     string `json:"kid"`
			Current bool   `json:"current"`
		} `json:"keys"`
	}
	c.mustJSONOut(&keysOut, "keys", "list", "--json")
	if len(keysOut.Keys) != 1 || !keysOut.Keys[0].Current {
		t.Fatalf("keys list --json = %+v; want one current key", keysOut)
	}
	first := keysOut.Keys[0].KID
	var rk map[string]string
	c.mustJSONOut(&rk, "keys", "rotate", "--json")
	if rk["kid"] == "" || rk["kid"] == first {
		t.Errorf("keys rotate --json = %v", rk)
	}
	c.mustJSONOut(&keysOut, "keys", "list", "--json")
	if len(keysOut.Keys) != 2 || keysOut.Keys[0].KID != rk["kid"] || !keysOut.Keys[0].Current || keysOut.Keys[1].Current {
		t.Errorf("after rotate, keys = %+v; want the new current key first, then %s retired", keysOut, first)
	}
	if out := c.must("keys", "list"); !strings.Contains(out, first) || !strings.Contains(out, "retired") || !strings.Contains(out, "current") {
		t.Errorf("keys list printed %q", out)
	}
	if out := c.must("keys", "rotate"); !strings.Contains(out, "new signing key") {
		t.Errorf("keys rotate printed %q", out)
	}

	t.Run("usage errors", func(t *testing.T) {
		for _, args := range [][]string{
			{},
			{"frobnicate"},
			{"clients"},
			{"clients", "frob"},
			{"clients", "list", "--bogus"},
			{"clients", "list", "extra"},
			{"clients", "create", "--nme", "x"},
			{"clients", "create", "--name"}, // flag without its value
			{"clients", "show"},
			{"clients", "show", "a", "b"},
			{"clients", "update"},
			{"clients", "update", "--status", "active"},
			{"clients", "delete"},
			{"clients", "rotate-secret"},
			{"clients", "create", "--name", "x", "--jwks", filepath.Join(t.TempDir(), "missing.json")},
			{"keys"},
			{"keys", "burn"},
			{"keys", "list", "extra"},
			{"keys", "rotate", "--force"},
			{"serve", "--bogus"},
			{"serve", "extra"},
		} {
			_, err := c.run(args...)
			if !isUsageError(err) {
				t.Errorf("gatehouse %q: err = %v (%T); want a usageError (exit status 2)", args, err, err)
			}
		}
		if out, err := c.run("help"); err != nil || !strings.Contains(out, "Usage:") {
			t.Errorf("help: %q, %v", out, err)
		}
	})

	t.Run("invalid values", func(t *testing.T) {
		for _, tc := range []struct {
			args  []string
			field string
		}{
			{[]string{"clients", "create", "--name", "x", "--grant-types", "password"}, "grant_types"},
			{[]string{"clients", "create", "--name", "x", "--redirect-uris", "http://evil.example/cb", "--grant-types", "authorization_code"}, "redirect_uris"},
			{[]string{"clients", "create", "--name", "x", "--auth-method", "private_key_jwt"}, "jwks"},
			{[]string{"clients", "create", "--name", "x", "--auth-method", "magic"}, "token_endpoint_auth_method"},
			{[]string{"clients", "create", "--name", " "}, "name"},
			{[]string{"clients", "create", "--scopes", "a"}, "name"},
			{[]string{"clients", "update", a.ClientID, "--status", "paused"}, "status"},
		} {
			_, err := c.run(tc.args...)
			if err == nil {
				t.Errorf("gatehouse %q succeeded", tc.args)
				continue
			}
			if isUsageError(err) {
				t.Errorf("gatehouse %q: usage error %v; want the registry error", tc.args, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "bad_request") || !strings.Contains(msg, "invalid_parameter") || !strings.Contains(msg, tc.field) {
				t.Errorf("gatehouse %q: err = %q; want it to name bad_request/invalid_parameter and %s", tc.args, msg, tc.field)
			}
		}
		for _, args := range [][]string{
			{"clients", "show", "gh_unknown"},
			{"clients", "update", "gh_unknown", "--name", "x"},
			{"clients", "rotate-secret", "gh_unknown"},
			{"clients", "delete", "gh_unknown"},
		} {
			_, err := c.run(args...)
			if err == nil || isUsageError(err) || !strings.Contains(err.Error(), "not_found") || !strings.Contains(err.Error(), "gh_unknown") {
				t.Errorf("gatehouse %q: err = %v; want not_found naming the id", args, err)
			}
		}
		// Nothing was created by the failed commands.
		c.mustJSONOut(&list, "clients", "list", "--json")
		if len(list.Clients) != 1 {
			t.Errorf("failed creates left %d clients; want 1", len(list.Clients))
		}
	})

	t.Run("config file", func(t *testing.T) {
		dir := t.TempDir()
		dataDir := filepath.Join(dir, "from-yaml")
		cfgPath := filepath.Join(dir, "gatehouse.yaml")
		if err := os.WriteFile(cfgPath, []byte("data_dir: "+dataDir+"\nlog_level: warn\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		y := cliEnv{t: t, env: map[string]string{}}
		var made cliClient
		y.mustJSONOut(&made, "clients", "create", "--config", cfgPath, "--name", "from yaml", "--json")
		for _, f := range []string{"gatehouse.db", "secret", "admin-token"} {
			if _, err := os.Stat(filepath.Join(dataDir, f)); err != nil {
				t.Errorf("data_dir from the YAML file was not used: %v", err)
			}
		}
		var l struct {
			Clients []cliClient `json:"clients"`
		}
		y.mustJSONOut(&l, "clients", "list", "--json", "--config", cfgPath)
		if len(l.Clients) != 1 || l.Clients[0].ClientID != made.ClientID {
			t.Errorf("list --config = %+v; want the client created with the same file", l.Clients)
		}
		// GATEHOUSE_CONFIG names the file too.
		viaEnv := cliEnv{t: t, env: map[string]string{"GATEHOUSE_CONFIG": cfgPath}}
		viaEnv.mustJSONOut(&l, "clients", "list", "--json")
		if len(l.Clients) != 1 {
			t.Errorf("GATEHOUSE_CONFIG: list = %+v; want the client from the file's data_dir", l.Clients)
		}
		// The environment overrides the file.
		other := filepath.Join(dir, "from-env")
		over := cliEnv{t: t, env: map[string]string{"GATEHOUSE_DATA_DIR": other}}
		over.mustJSONOut(&l, "clients", "list", "--json", "--config", cfgPath)
		if len(l.Clients) != 0 {
			t.Errorf("GATEHOUSE_DATA_DIR over --config: list = %+v; want the env's empty data dir", l.Clients)
		}
		// A broken file is an error, not the defaults.
		bad := filepath.Join(dir, "bad.yaml")
		if err := os.WriteFile(bad, []byte("dta_dir: x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := y.run("clients", "list", "--config", bad); err == nil || !strings.Contains(err.Error(), "dta_dir") {
			t.Errorf("unknown key in --config file: err = %v; want it named", err)
		}
		if _, err := y.run("clients", "list", "--config", filepath.Join(dir, "missing.yaml")); err == nil {
			t.Error("missing --config file accepted")
		}
	})
}
