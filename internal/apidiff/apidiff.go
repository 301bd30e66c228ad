// Package apidiff says what changed between two versions of an OpenAPI
// document, for an API's changelog (issue 13 §4): operations added and
// removed, and in each operation kept its parameters, request body fields,
// responses and scopes. A change a client written for the older document
// may trip on (something removed, a new requirement, a changed type) is
// marked breaking.
package apidiff

import (
	"fmt"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Change is one difference.
type Change struct {
	// Kind is "added", "removed" or "changed".
	Kind     string
	Breaking bool
	// Operation is "METHOD /path"; Text says what changed in it.
	Operation string
	Text      string
}

// Doc is a loaded document.
type Doc = openapi3.T

// Load reads a document for Diff; references are resolved within it.
func Load(doc []byte) (*openapi3.T, error) {
	l := openapi3.NewLoader()
	l.IsExternalRefsAllowed = false
	return l.LoadFromData(doc)
}

// Diff returns what changed from old to new, in operation order.
func Diff(old, new *openapi3.T) []Change {
	var out []Change
	before, after := operations(old), operations(new)
	for _, key := range sortedKeys(before, after) {
		o, n := before[key], after[key]
		switch {
		case o == nil:
			out = append(out, Change{Kind: "added", Operation: key, Text: "New operation" + summary(n)})
		case n == nil:
			out = append(out, Change{Kind: "removed", Breaking: true, Operation: key, Text: "Operation removed" + summary(o)})
		default:
			out = append(out, operationChanges(key, o, n)...)
		}
	}
	return out
}

func summary(op *openapi3.Operation) string {
	if op.Summary != "" {
		return ": " + op.Summary
	}
	return ""
}

func operations(t *openapi3.T) map[string]*openapi3.Operation {
	m := map[string]*openapi3.Operation{}
	if t == nil || t.Paths == nil {
		return m
	}
	for path, item := range t.Paths.Map() {
		for method, op := range item.Operations() {
			m[strings.ToUpper(method)+" "+path] = op
		}
	}
	return m
}

// sortedKeys returns the operations of both, by path then method.
func sortedKeys[V any](a, b map[string]V) []string {
	keys := sortedNames(a, b)
	slices.SortStableFunc(keys, func(x, y string) int {
		_, xp, _ := strings.Cut(x, " ")
		_, yp, _ := strings.Cut(y, " ")
		return strings.Compare(xp, yp)
	})
	return keys
}

func operationChanges(key string, o, n *openapi3.Operation) []Change {
	var out []Change
	add := func(kind string, breaking bool, format string, args ...any) {
		out = append(out, Change{Kind: kind, Breaking: breaking, Operation: key, Text: fmt.Sprintf(format, args...)})
	}
	// Parameters, by location and name.
	params := func(op *openapi3.Operation) map[string]*openapi3.Parameter {
		m := map[string]*openapi3.Parameter{}
		for _, ref := range op.Parameters {
			if p := ref.Value; p != nil {
				m[p.In+" parameter "+p.Name] = p
			}
		}
		return m
	}
	pb, pa := params(o), params(n)
	for _, k := range sortedNames(pb, pa) {
		switch p, q := pb[k], pa[k]; {
		case p == nil:
			add("added", q.Required, "New %s%s", requiredWord(q.Required), k)
		case q == nil:
			add("removed", true, "Removed the %s", k)
		case !p.Required && q.Required:
			add("changed", true, "The %s is now required", k)
		case p.Required && !q.Required:
			add("changed", false, "The %s is now optional", k)
		}
	}
	// The JSON request body's fields.
	bo, bn := jsonBody(o), jsonBody(n)
	switch {
	case bo == nil && bn != nil:
		add("added", requiredBody(n), "New request body")
	case bo != nil && bn == nil:
		add("removed", true, "Request body removed")
	case bo != nil:
		out = append(out, schemaChanges(key, "request body", bo, bn, 0)...)
	}
	// Responses, by status.
	rb, ra := responses(o), responses(n)
	for _, code := range sortedNames(rb, ra) {
		switch {
		case !rb[code]:
			add("added", false, "New response %s", code)
		case !ra[code]:
			add("removed", false, "Response %s removed", code)
		}
	}
	// Scopes.
	if so, sn := scopes(o), scopes(n); so != sn {
		add("changed", true, "Scopes changed from %s to %s", orNone(so), orNone(sn))
	}
	return out
}

func requiredWord(required bool) string {
	if required {
		return "required "
	}
	return "optional "
}

func sortedNames[V any](a, b map[string]V) []string {
	keys := slices.Collect(func(yield func(string) bool) {
		for k := range a {
			if !yield(k) {
				return
			}
		}
		for k := range b {
			if _, ok := a[k]; !ok && !yield(k) {
				return
			}
		}
	})
	slices.Sort(keys)
	return keys
}

func jsonBody(op *openapi3.Operation) *openapi3.Schema {
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		return nil
	}
	mt := op.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return nil
	}
	return mt.Schema.Value
}

func requiredBody(op *openapi3.Operation) bool {
	return op.RequestBody != nil && op.RequestBody.Value != nil && op.RequestBody.Value.Required
}

func responses(op *openapi3.Operation) map[string]bool {
	m := map[string]bool{}
	if op.Responses != nil {
		for code := range op.Responses.Map() {
			m[code] = true
		}
	}
	return m
}

func scopes(op *openapi3.Operation) string {
	if op.Security == nil {
		return ""
	}
	var alts []string
	for _, req := range *op.Security {
		var all []string
		for _, s := range req {
			all = append(all, s...)
		}
		slices.Sort(all)
		alts = append(alts, strings.Join(all, "+"))
	}
	slices.Sort(alts)
	return strings.Join(alts, " | ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// maxDepth bounds how deep nested objects are compared.
const maxDepth = 4

// schemaChanges compares two object schemas' fields, recursing into
// nested objects; at names where the field is ("request body" at the
// top).
func schemaChanges(key, at string, o, n *openapi3.Schema, depth int) []Change {
	var out []Change
	add := func(kind string, breaking bool, format string, args ...any) {
		out = append(out, Change{Kind: kind, Breaking: breaking, Operation: key, Text: fmt.Sprintf(format, args...)})
	}
	if to, tn := typeOf(o), typeOf(n); to != tn {
		add("changed", true, "The type of %s changed from %s to %s", at, orNone(to), orNone(tn))
		return out
	}
	if depth >= maxDepth {
		return out
	}
	props := func(s *openapi3.Schema) map[string]*openapi3.Schema {
		m := map[string]*openapi3.Schema{}
		for name, ref := range s.Properties {
			if ref != nil && ref.Value != nil {
				m[name] = ref.Value
			}
		}
		return m
	}
	po, pn := props(o), props(n)
	field := func(name string) string {
		if depth == 0 {
			return "field " + name
		}
		return "field " + strings.TrimPrefix(at, "field ") + "." + name
	}
	for _, name := range sortedNames(po, pn) {
		ro, rn := slices.Contains(o.Required, name), slices.Contains(n.Required, name)
		switch a, b := po[name], pn[name]; {
		case a == nil:
			add("added", rn, "New %s%s", requiredWord(rn), field(name))
		case b == nil:
			add("removed", true, "Removed the %s", field(name))
		default:
			if !ro && rn {
				add("changed", true, "The %s is now required", field(name))
			} else if ro && !rn {
				add("changed", false, "The %s is now optional", field(name))
			}
			out = append(out, schemaChanges(key, field(name), a, b, depth+1)...)
		}
	}
	return out
}

func typeOf(s *openapi3.Schema) string {
	if s == nil || s.Type == nil {
		return ""
	}
	return strings.Join(s.Type.Slice(), "|")
}
