package problem

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestEveryCauseIsRaisedOrMarked is the registry's reverse test: the
// troubleshooting page lists every cause, so each one is raised somewhere in
// the module's code (its Reason variable is used outside tests) or marked
// with exactly one of Planned (the filed issue whose feature will raise it),
// Upstream (the API behind the gateway answers it) or Reserved (why it
// stays). Reserved is allowed only where the cause cannot go: its pair is
// in the published contract, or it is the only cause of an entry whose
// code the coverage tests require. A cause that is neither raised nor
// marked fails, and so does a marked cause that the code raises after all
// (drop the mark).
func TestEveryCauseIsRaisedOrMarked(t *testing.T) {
	raised := raisedReasons(t)
	for _, e := range Catalog() {
		for _, c := range e.Causes {
			r := Reason{e.Key, c.ID}
			marks := 0
			for _, set := range []bool{c.Planned != "", c.Upstream, c.Reserved != ""} {
				if set {
					marks++
				}
			}
			switch {
			case raised[r] && marks > 0:
				t.Errorf("%s is raised, but marked as not raised by gatehouse: drop the mark", r)
			case !raised[r] && marks == 0:
				t.Errorf("%s is raised nowhere: raise it, remove it from the registry, or mark it Planned (the filed issue), Upstream or Reserved", r)
			case marks > 1:
				t.Errorf("%s has more than one of Planned, Upstream and Reserved", r)
			}
			if c.Planned != "" && !plannedIssue.MatchString(c.Planned) {
				t.Errorf("%s: Planned %q does not name a filed issue (\"issue 12\")", r, c.Planned)
			}
			if c.Reserved != "" && !inContract(r) && !(len(e.Causes) == 1 && requiredEntry(e)) {
				t.Errorf("%s is Reserved, but neither in the contract nor the only cause of a required entry: remove it, or raise it", r)
			}
		}
	}
}

var plannedIssue = regexp.MustCompile(`^issue [1-9][0-9]*$`)

// inContract reports whether r is a pair of catalog_test.go's contract.
func inContract(r Reason) bool {
	for _, id := range contract[r.key] {
		if id == r.cause {
			return true
		}
	}
	return false
}

// requiredEntry reports whether the coverage tests need e: it is the
// canonical entry of a seed or flow OAuth code, or the only entry with its
// CAMARA code.
func requiredEntry(e *Entry) bool {
	for _, code := range append(append([]string{}, seedOAuthCodes...), flowOAuthCodes...) {
		if e.Key == code {
			return true
		}
	}
	if _, ok := camaraStatus[e.CamaraCode]; !ok {
		return false
	}
	for _, o := range Catalog() {
		if o != e && o.CamaraCode == e.CamaraCode && o.Status == e.Status {
			return false
		}
	}
	return true
}

// raisedReasons parses every non-test Go file of the module and returns the
// Reasons its code names: problem.X in other packages, X in this one, where
// X is a variable of reasons.go.
func raisedReasons(t *testing.T) map[Reason]bool {
	t.Helper()
	vars := reasonVars(t)
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	raised := map[Reason]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		if filepath.Base(path) == "reasons.go" && filepath.Base(filepath.Dir(path)) == "problem" {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		inPackage := f.Name.Name == "problem"
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok && x.Name == "problem" {
					if r, ok := vars[n.Sel.Name]; ok {
						raised[r] = true
					}
					return false
				}
			case *ast.Ident:
				if r, ok := vars[n.Name]; ok && inPackage {
					raised[r] = true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(raised) < 100 {
		t.Fatalf("found only %d raised causes; is the walk rooted at the module?", len(raised))
	}
	return raised
}

// reasonVars maps each variable of reasons.go to its Reason.
func reasonVars(t *testing.T) map[string]Reason {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "reasons.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]Reason{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 {
			return true
		}
		lit, ok := vs.Values[0].(*ast.CompositeLit)
		if !ok || len(lit.Elts) != 2 {
			return true
		}
		var s [2]string
		for i, el := range lit.Elts {
			b, ok := el.(*ast.BasicLit)
			if !ok {
				return true
			}
			s[i], _ = strconv.Unquote(b.Value)
		}
		vars[vs.Names[0].Name] = Reason{s[0], s[1]}
		return true
	})
	n := 0
	for _, e := range catalog {
		n += len(e.Causes)
	}
	if len(vars) != n {
		t.Fatalf("reasons.go has %d variables for %d causes: run `go generate ./internal/problem`", len(vars), n)
	}
	return vars
}
