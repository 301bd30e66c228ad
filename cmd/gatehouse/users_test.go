package main

import (
	"strings"
	"testing"
)

// TestUsersCLI drives `gatehouse users` with no server running.
func TestUsersCLI(t *testing.T) {
	t.Parallel()
	c := cliEnv{t: t, env: map[string]string{"GATEHOUSE_DATA_DIR": t.TempDir(), "GATEHOUSE_LOG_LEVEL": "warn"}}

	var created struct {
		ID          string `json:"id"`
		Username    string `json:"username"`
		PhoneNumber string `json:"phone_number"`
		HasPassword bool   `json:"has_password"`
	}
	out := c.mustJSONOut(&created, "users", "create", "--username", "alice", "--password", "correct horse", "--phone", "+34600000001", "--json")
	if !strings.HasPrefix(created.ID, "usr_") || created.Username != "alice" || created.PhoneNumber != "+34600000001" || !created.HasPassword {
		t.Errorf("users create printed %s", out)
	}
	if strings.Contains(out, "argon2") || strings.Contains(out, "correct horse") {
		t.Errorf("users create printed the password or its hash: %s", out)
	}
	text := c.must("users", "create", "--username", "bob", "--password", "another secret")
	if !strings.Contains(text, "bob") || !strings.Contains(text, "USERNAME") {
		t.Errorf("users create (text) printed %q", text)
	}

	var list struct {
		Users []struct {
			ID       string `json:"id"`
			Username string `json:"username"`
		} `json:"users"`
	}
	c.mustJSONOut(&list, "users", "list", "--json")
	if len(list.Users) != 2 {
		t.Fatalf("users list = %+v; want alice and bob", list)
	}
	if text := c.must("users", "list"); !strings.Contains(text, "+34600000001") || !strings.Contains(text, "alice") {
		t.Errorf("users list (text) printed %q", text)
	}

	for _, tc := range []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{"users"}, true, "want create"},
		{[]string{"users", "rename"}, true, "unknown subcommand"},
		{[]string{"users", "create", "--username", "x"}, true, "--password"},
		{[]string{"users", "delete"}, true, "exactly one"},
		{[]string{"users", "list", "extra"}, true, "unexpected"},
		{[]string{"users", "create", "--username", "alice", "--password", "whatever1"}, false, "already_exists/duplicate"},
		{[]string{"users", "create", "--username", "carol", "--password", "whatever1", "--phone", "600000001"}, false, "bad_request/invalid_parameter"},
		{[]string{"users", "create", "--username", "carol", "--password", "short"}, false, "password"},
		{[]string{"users", "delete", "usr_nope"}, false, "not_found/resource_not_found"},
	} {
		_, err := c.run(tc.args...)
		if err == nil || isUsageError(err) != tc.usage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("gatehouse %s: %v (usage error %v); want %q", strings.Join(tc.args, " "), err, isUsageError(err), tc.want)
		}
	}

	if out := c.must("users", "delete", created.ID); !strings.Contains(out, "deleted user "+created.ID) {
		t.Errorf("users delete printed %q", out)
	}
	c.mustJSONOut(&list, "users", "list", "--json")
	if len(list.Users) != 1 || list.Users[0].Username != "bob" {
		t.Errorf("after delete: %+v", list)
	}
}
