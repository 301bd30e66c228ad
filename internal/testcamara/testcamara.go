// Package testcamara finds the CAMARA API definitions the tests check
// gatehouse against (sim-swap.yaml, number-verification.yaml and
// location-verification.yaml). They are test data kept outside the
// repository, in a folder shared/apis beside the checkout or above it (a
// git worktree sits deeper than the main checkout), never copied into it;
// the tests that need them skip when they are absent.
//
// It is imported only from _test.go files.
package testcamara

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// EnvDir names the environment variable that, when set, is the folder of
// the definitions, wherever the checkout is.
const EnvDir = "GATEHOUSE_TEST_CAMARA_DIR"

// SkipMessage is what a test says when it skips for want of the
// definitions.
const SkipMessage = "CAMARA definitions not found in shared/apis beside the repository (or " + EnvDir + "): test data outside the repository; skipping"

// Dir returns the folder of the definitions: $GATEHOUSE_TEST_CAMARA_DIR
// when set, else the first shared/apis found in the parent of the module
// root (the folder of go.mod above the working directory, which go test
// sets to the package's) or in any folder above it. ok is false when that
// folder does not exist.
func Dir() (dir string, ok bool) {
	if dir := os.Getenv(EnvDir); dir != "" {
		return dir, isDir(dir)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", false
	}
	root := wd
	for !exists(filepath.Join(root, "go.mod")) {
		up := filepath.Dir(root)
		if up == root {
			root = wd // no module: search from the working directory
			break
		}
		root = up
	}
	for d := filepath.Dir(root); ; d = filepath.Dir(d) {
		if candidate := filepath.Join(d, "shared", "apis"); isDir(candidate) {
			return candidate, true
		}
		if filepath.Dir(d) == d {
			return "", false
		}
	}
}

// Read returns the definition file name (such as "sim-swap.yaml"), or skips
// tb, saying why, when the definitions are absent. A file missing from a
// folder that exists fails tb.
func Read(tb testing.TB, name string) []byte {
	tb.Helper()
	dir, ok := Dir()
	if !ok {
		tb.Skip(SkipMessage)
	}
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		tb.Fatalf("CAMARA definition %s: %v", name, err)
	}
	return data
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
