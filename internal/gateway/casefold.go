package gateway

import (
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"gatehouse/internal/problem"
)

// A member whose name differs from a documented one only by letter case
// ("MAXAGE" for "maxAge") is, to the schema, an undocumented member that
// nothing constrains; but Go's encoding/json, and other decoders that
// match names case-insensitively, read it as the documented member. So
// {"phoneNumber":"+34…","MAXAGE":99999} passed maxAge's maximum and
// reached a Go upstream as maxAge 99999, and {"PHONENUMBER":"+…"} with a
// token for another line slipped past CAMARA's identifier rules. Such
// members are refused (bad_request / member_case_mismatch).

// memberNode is what applies to a JSON value validated against one schema:
// the members declared by the schema and everything combined with it
// (allOf, oneOf, anyOf, discriminator mappings), and its array items.
type memberNode struct {
	props      map[string][]*openapi3.Schema // exact name → schemas of the member's value
	items      []*openapi3.Schema
	additional []*openapi3.Schema
}

// memberIndex maps each schema reachable from an operation's body to its
// memberNode. It is built once per operation at compile time.
type memberIndex map[*openapi3.Schema]*memberNode

// buildMemberIndex indexes the schemas reachable from body.
func buildMemberIndex(doc *openapi3.T, body *openapi3.Schema) memberIndex {
	ix := memberIndex{}
	var visit func(s *openapi3.Schema)
	visit = func(s *openapi3.Schema) {
		if s == nil || ix[s] != nil {
			return
		}
		node := &memberNode{props: map[string][]*openapi3.Schema{}}
		ix[s] = node
		var children []*openapi3.Schema
		add := func(list []*openapi3.Schema, ref *openapi3.SchemaRef) []*openapi3.Schema {
			if ref == nil || ref.Value == nil || slices.Contains(list, ref.Value) {
				return list
			}
			children = append(children, ref.Value)
			return append(list, ref.Value)
		}
		for _, a := range combined(doc, s) {
			for name, ref := range a.Properties {
				node.props[name] = add(node.props[name], ref)
			}
			node.items = add(node.items, a.Items)
			node.additional = add(node.additional, a.AdditionalProperties.Schema)
		}
		for _, c := range children {
			visit(c)
		}
	}
	visit(body)
	return ix
}

// combined returns s and every schema that applies to the same value with
// it: allOf, oneOf and anyOf branches and discriminator targets, through
// any depth.
func combined(doc *openapi3.T, s *openapi3.Schema) []*openapi3.Schema {
	out := []*openapi3.Schema{s}
	for i := 0; i < len(out); i++ {
		a := out[i]
		for _, group := range [][]*openapi3.SchemaRef{a.AllOf, a.OneOf, a.AnyOf} {
			for _, ref := range group {
				if ref != nil && ref.Value != nil && !slices.Contains(out, ref.Value) {
					out = append(out, ref.Value)
				}
			}
		}
		for _, t := range discriminatorTargets(doc, a) {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// caseMismatch finds a member whose name differs from a documented one only
// by letter case, anywhere in value; it returns the problem naming it, or
// nil. The first pass allocates nothing; only when it finds one does a
// second pass, in sorted order, name the first such member, so that the
// same body always gets the same answer.
func (ix memberIndex) caseMismatch(s *openapi3.Schema, value any) *problem.Error {
	if !ix.walk(s, value, nil, false) {
		return nil
	}
	var found *problem.Error
	ix.walk(s, value, func(path []string, documented string) {
		field := strings.Join(path, ".")
		found = problem.Newf(problem.BadRequestMemberCaseMismatch,
			"%q is not a member of this object; the documented member is %q (names are case-sensitive).", field, documented).With("field", field)
	}, true)
	return found
}

// walk reports whether value holds a case-mismatched member. With report
// set, it visits members in sorted order with their paths and calls report
// for the first one.
func (ix memberIndex) walk(s *openapi3.Schema, value any, report func(path []string, documented string), sorted bool, path ...string) bool {
	node := ix[s]
	if node == nil {
		return false
	}
	switch v := value.(type) {
	case map[string]any:
		member := func(k string, child any) bool {
			kids, declared := node.props[k]
			if !declared {
				for name := range node.props {
					if strings.EqualFold(name, k) {
						if report != nil {
							report(append(slices.Clip(path), k), name)
						}
						return true
					}
				}
				kids = node.additional
			}
			for _, kid := range kids {
				var sub []string
				if sorted {
					sub = append(slices.Clip(path), k)
				}
				if ix.walk(kid, child, report, sorted, sub...) {
					return true
				}
			}
			return false
		}
		if !sorted {
			for k, child := range v {
				if member(k, child) {
					return true
				}
			}
			return false
		}
		names := make([]string, 0, len(v))
		for k := range v {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			if member(k, v[k]) {
				return true
			}
		}
	case []any:
		for i, item := range v {
			for _, kid := range node.items {
				var sub []string
				if sorted {
					sub = append(slices.Clip(path), strconv.Itoa(i))
				}
				if ix.walk(kid, item, report, sorted, sub...) {
					return true
				}
			}
		}
	}
	return false
}
