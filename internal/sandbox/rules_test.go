package sandbox

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite RULES.md and the definitions' x-gatehouse-sandbox-rules from the rules tables")

// rulesExtension is the definitions' key for an operation's rows.
const rulesExtension = "x-gatehouse-sandbox-rules"

// ruleCalls turns every row of every rules table into calls: the row's
// example, and for a row with LastDigits one call per digit, the example's
// phone number changed to end in it.
func ruleCalls(t testing.TB) []call {
	t.Helper()
	var cs []call
	for _, d := range Definitions() {
		for i, r := range Rules(d.Name) {
			name := fmt.Sprintf("%s row %d %s %s", d.Name, i+1, r.Method, r.Path)
			numbers := []string{r.PhoneNumber}
			if len(r.LastDigits) > 0 {
				if r.PhoneNumber == "" {
					t.Fatalf("%s: a row with lastDigits needs a phoneNumber", name)
				}
				numbers = nil
				for _, digit := range r.LastDigits {
					numbers = append(numbers, r.PhoneNumber[:len(r.PhoneNumber)-1]+strconv.Itoa(digit))
				}
			}
			for _, n := range numbers {
				swap := func(s string) string {
					if r.PhoneNumber == "" {
						return s
					}
					return strings.ReplaceAll(s, r.PhoneNumber, n)
				}
				c := call{
					name:    name,
					method:  r.Method,
					path:    d.BasePath + r.Path,
					subject: swap(r.Subject),
					body:    swap(string(r.Body)),
					status:  r.Status,
					want:    swap(string(r.Response)),
					code:    r.Code,
					message: r.Message,
					// A 400 row's example may break the definition, as
					// the gateway's validation would refuse it.
					rejected: r.Status == http.StatusBadRequest,
				}
				if len(numbers) > 1 {
					c.name += " " + n
				}
				cs = append(cs, c)
			}
		}
	}
	return cs
}

// TestEveryRule sends every row of the rules tables (every digit of a row
// with LastDigits) to the handler over HTTP and wants exactly the row's
// answer, and that both follow the definitions; so the tables that the
// portal shows cannot drift from what the sandbox does.
func TestEveryRule(t *testing.T) {
	cs := ruleCalls(t)
	if len(cs) < 50 {
		t.Fatalf("only %d calls from the rules tables; the tables or ruleCalls are broken", len(cs))
	}
	runCalls(t, cs)
}

// digitWords writes digits as the rows' words do: "1, 5, 7 or 9".
func digitWords(digits []int) string {
	s := make([]string, len(digits))
	for i, d := range digits {
		s[i] = strconv.Itoa(d)
	}
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// TestRulesTables checks what the loader cannot: that each row's example
// is about its phone number, that the words say the row's digits, and that
// every operation has rows.
func TestRulesTables(t *testing.T) {
	for name, doc := range ourDocs(t) {
		base := serverPath(t, doc)
		covered := map[string]bool{}
		shapes := map[string]bool{}
		for i, r := range Rules(name) {
			where := fmt.Sprintf("%s row %d (%s %s, %q)", name, i+1, r.Method, r.Path, r.When)
			key := r.Method + " " + base + r.Path
			covered[key] = true
			for _, n := range []string{r.PhoneNumber, r.Subject} {
				if n != "" && !phonePattern.MatchString(n) {
					t.Errorf("%s: %q is not a phone number the sandbox accepts", where, n)
				}
			}
			if n := r.PhoneNumber; n != "" && n != r.Subject &&
				!bytes.Contains(r.Body, []byte(`"`+n+`"`)) && !bytes.Contains(r.Body, []byte(sha(n))) {
				t.Errorf("%s: the example neither names, hashes nor signs in as %s", where, n)
			}
			if len(r.LastDigits) > 0 {
				if n := r.PhoneNumber; n == "" || !slices.Contains(r.LastDigits, lastDigit(n)) {
					t.Errorf("%s: phoneNumber %q does not end in one of the row's digits", where, n)
				}
				if want := "the line ends in " + digitWords(r.LastDigits); !strings.HasPrefix(r.When, want) {
					t.Errorf("%s: the words do not start %q", where, want)
				}
			}
			if (len(r.Body) == 0) != (r.Method == http.MethodGet) {
				t.Errorf("%s: a POST example needs a body and a GET one none", where)
			}
			if r.Shape != "" {
				if shapes[key+" "+r.Shape] {
					t.Errorf("%s: shape %q has another row", where, r.Shape)
				}
				shapes[key+" "+r.Shape] = true
			}
		}
		for key := range operations(t, doc) {
			if !covered[key] {
				t.Errorf("%s has no rows in rules/%s.json", key, name)
			}
		}
	}
	if got := Rules("nothing"); got != nil {
		t.Errorf("Rules of an unknown API = %v; want nil", got)
	}
	// Each call hands out its own copies.
	a := Rules("sim-swap")
	a[0].Body[0], a[0].Response[0], a[0].LastDigits[0] = 'X', 'X', 42
	if b := Rules("sim-swap")[0]; b.Body[0] == 'X' || b.Response[0] == 'X' || b.LastDigits[0] == 42 {
		t.Error("changing a returned Rule changed the next call's")
	}
}

// TestGenerated fails when RULES.md or a definition's
// x-gatehouse-sandbox-rules is not what the rules tables make. With
// -update (go generate ./internal/sandbox) it rewrites them.
func TestGenerated(t *testing.T) {
	files := map[string][]byte{}
	md, err := rulesMarkdown()
	if err != nil {
		t.Fatal(err)
	}
	files["RULES.md"] = md
	for _, d := range Definitions() {
		doc, err := withRules(d.Document, Rules(d.Name))
		if err != nil {
			t.Fatalf("apis/%s.yaml: %v", d.Name, err)
		}
		files["apis/"+d.Name+".yaml"] = doc
	}
	for name, want := range files {
		if *update {
			if err := os.WriteFile(name, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what the rules tables make; run go generate ./internal/sandbox and review the diff", name)
		}
	}
}

// TestExtensionsAreTheRules reads x-gatehouse-sandbox-rules as an OpenAPI
// tool does and wants exactly the operation's rows of the table.
func TestExtensionsAreTheRules(t *testing.T) {
	for name, doc := range ourDocs(t) {
		base := serverPath(t, doc)
		want := map[string][]map[string]any{}
		for _, r := range Rules(name) {
			key := r.Method + " " + base + r.Path
			want[key] = append(want[key], extensionRow(t, r))
		}
		for key, rt := range operations(t, doc) {
			got, err := json.Marshal(rt.Operation.Extensions[rulesExtension])
			if err != nil {
				t.Fatal(err)
			}
			w, err := json.Marshal(want[key])
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(got, w) {
				t.Errorf("%s: %s is\n%s\nthe table has\n%s", key, rulesExtension, got, w)
			}
		}
	}
}

// extensionRow is a row as a definition's extension lists it: without the
// operation, which the place in the document gives.
func extensionRow(t testing.TB, r Rule) map[string]any {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "method")
	delete(m, "path")
	return m
}

// TestNoRulesByHand: the package documentation and RULES.md's template
// restate no answer of the tables (no code, response or response value), so
// the tables stay the only place the rules are written.
func TestNoRulesByHand(t *testing.T) {
	answers := map[string]bool{}
	var leaves func(v any)
	leaves = func(v any) {
		switch v := v.(type) {
		case string:
			answers[v] = true
		case map[string]any:
			for _, e := range v {
				leaves(e)
			}
		}
	}
	for _, d := range Definitions() {
		for _, r := range Rules(d.Name) {
			if r.Code != "" {
				answers[r.Code] = true
				continue
			}
			answers[string(r.Response)] = true
			var v any
			if err := json.Unmarshal(r.Response, &v); err != nil {
				t.Fatal(err)
			}
			leaves(v)
		}
	}
	for _, file := range []string{"doc.go", "rules/RULES.md.tmpl"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for a := range answers {
			if bytes.Contains(b, []byte(a)) {
				t.Errorf("%s says %s, an answer of the rules tables; refer to the tables instead", file, a)
			}
		}
	}
}

// rulesMarkdown renders RULES.md: rules/RULES.md.tmpl, whose {{rules
// "name"}} is the named API's table.
func rulesMarkdown() ([]byte, error) {
	tmpl, err := template.New("RULES.md.tmpl").Funcs(template.FuncMap{"rules": markdownRules}).
		ParseFiles("rules/RULES.md.tmpl")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, nil); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// markdownRules renders one API's rules as a Markdown table per operation.
func markdownRules(api string) (string, error) {
	rows := Rules(api)
	if rows == nil {
		return "", fmt.Errorf("no rules for %q", api)
	}
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	var b strings.Builder
	op := ""
	for _, r := range rows {
		if o := r.Method + " " + r.Path; o != op {
			if op != "" {
				b.WriteString("\n")
			}
			op = o
			fmt.Fprintf(&b, "`%s`\n\n| when | token | example body | answer |\n|---|---|---|---|\n", o)
		}
		token := "2-legged"
		if r.Subject != "" {
			token = "3-legged as `" + r.Subject + "`"
		}
		body := "—"
		if len(r.Body) > 0 {
			body = "`" + string(r.Body) + "`"
		}
		answer := string(r.Response)
		if r.Code != "" {
			answer = r.Code
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d `%s` |\n", cell(r.When), token, cell(body), r.Status, cell(answer))
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// withRules returns an OpenAPI document (YAML, as apis/*.yaml write it)
// with each operation's x-gatehouse-sandbox-rules replaced by its rows of
// rules. Every operation with rows must already have the key, at six
// spaces under its method; the key's value is every more indented line
// after it.
func withRules(doc []byte, rules []Rule) ([]byte, error) {
	byOp := map[string][]Rule{}
	for _, r := range rules {
		byOp[r.Method+" "+r.Path] = append(byOp[r.Method+" "+r.Path], r)
	}
	lines := strings.SplitAfter(string(doc), "\n")
	indent := func(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }
	var out strings.Builder
	inPaths := false
	path, op := "", ""
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		out.WriteString(line)
		key := strings.TrimSpace(line)
		switch n := indent(line); {
		case key == "":
		case n == 0:
			inPaths = key == "paths:"
		case !inPaths:
		case n == 2 && strings.HasSuffix(key, ":"):
			path = strings.TrimSuffix(key, ":")
		case n == 4 && slices.Contains([]string{"get:", "put:", "post:", "delete:", "patch:"}, key):
			op = strings.ToUpper(strings.TrimSuffix(key, ":")) + " " + path
		case n == 6 && strings.HasPrefix(key, rulesExtension+":"):
			rows, ok := byOp[op]
			if !ok {
				return nil, fmt.Errorf("%s has %s but no rows in the table", op, rulesExtension)
			}
			delete(byOp, op)
			// Skip the old value: the more indented lines after the key.
			for i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "" && indent(lines[i+1]) > 6 {
				i++
			}
			block, err := extensionYAML(rows)
			if err != nil {
				return nil, err
			}
			if key != rulesExtension+":" {
				return nil, fmt.Errorf("%s: %s must have its value on the next lines", op, rulesExtension)
			}
			for l := range strings.Lines(block) {
				out.WriteString("        " + l)
			}
		}
	}
	for op := range byOp {
		return nil, fmt.Errorf("%s has rows in the table but no %s key in the document", op, rulesExtension)
	}
	return []byte(out.String()), nil
}

// extensionYAML renders rows as the value of x-gatehouse-sandbox-rules: a
// block sequence of mappings in the table's key order, with the digits,
// bodies and responses in flow style.
func extensionYAML(rows []Rule) (string, error) {
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for _, r := range rows {
		r.Method, r.Path = "", ""
		b, err := json.Marshal(r)
		if err != nil {
			return "", err
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return "", err
		}
		m := doc.Content[0]
		var kept []*yaml.Node
		for j := 0; j < len(m.Content); j += 2 {
			k, v := m.Content[j], m.Content[j+1]
			if k.Value == "method" || k.Value == "path" {
				continue
			}
			plain(k)
			plain(v)
			if v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode {
				v.Style = yaml.FlowStyle
			}
			kept = append(kept, k, v)
		}
		m.Content, m.Style = kept, 0
		seq.Content = append(seq.Content, m)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(seq); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}

// plain clears the quoting that n kept from the JSON it was read from, so
// that the encoder quotes only what YAML needs quoted.
func plain(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		plain(c)
	}
}
