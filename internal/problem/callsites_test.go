package problem

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEveryCallSiteNamesARegistryCause parses every Go file of the module and
// checks that each problem.New / problem.Newf call with literal arguments
// names an existing entry and cause. New panics on a bad pair, so this
// catches on every build what would otherwise surface only when that error
// path runs.
func TestEveryCallSiteNamesARegistryCause(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	calls := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		inPackage := f.Name.Name == "problem"
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) < 2 {
				return true
			}
			var name string
			switch fn := call.Fun.(type) {
			case *ast.SelectorExpr:
				if x, ok := fn.X.(*ast.Ident); ok && x.Name == "problem" {
					name = fn.Sel.Name
				}
			case *ast.Ident:
				if inPackage {
					name = fn.Name
				}
			}
			if name != "New" && name != "Newf" {
				return true
			}
			key, ok1 := stringLit(call.Args[0])
			cause, ok2 := stringLit(call.Args[1])
			if !ok1 || !ok2 {
				return true
			}
			calls++
			e, ok := Lookup(key)
			if !ok {
				t.Errorf("%s: problem.%s names unknown registry key %q", fset.Position(call.Pos()), name, key)
				return true
			}
			if _, ok := e.Cause(cause); !ok {
				t.Errorf("%s: problem.%s(%q, %q): %q has no such cause", fset.Position(call.Pos()), name, key, cause, key)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls < 20 {
		t.Fatalf("found only %d call sites; is the walk rooted at the module?", calls)
	}
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}
