package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDatabaseURLNonsenseRefused: GATEHOUSE_DATABASE_URL=nonsense used to
// create a SQLite file ./nonsense and start an empty platform (issue 9).
// Now serve and every command that opens the store refuse to start, naming
// the accepted forms, and create no file; sqlite:PATH works.
func TestDatabaseURLNonsenseRefused(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	env := testEnv(t)
	env["GATEHOUSE_DATABASE_URL"] = "nonsense"
	getenv := func(k string) string { return env[k] }
	for _, args := range [][]string{{"serve"}, {"clients", "list"}, {"apis", "list"}} {
		err := run(context.Background(), args, getenv, io.Discard, io.Discard)
		if err == nil {
			t.Fatalf("gatehouse %s with GATEHOUSE_DATABASE_URL=nonsense started", strings.Join(args, " "))
		}
		for _, want := range []string{"GATEHOUSE_DATABASE_URL", "postgres://", "postgresql://", "sqlite:"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("gatehouse %s: err = %q; want it to name %s", strings.Join(args, " "), err, want)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nonsense")); !os.IsNotExist(err) {
		t.Errorf("a file ./nonsense exists (stat err %v); a refused URL must create nothing", err)
	}

	env["GATEHOUSE_DATABASE_URL"] = "sqlite:./explicit.db"
	if err := run(context.Background(), []string{"clients", "list"}, getenv, io.Discard, io.Discard); err != nil {
		t.Fatalf("sqlite:./explicit.db: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "explicit.db")); err != nil {
		t.Errorf("sqlite:./explicit.db did not create ./explicit.db: %v", err)
	}
}
