package gateway

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"gatehouse/internal/problem"
)

// kin-openapi applies a discriminator only to choose among oneOf or anyOf
// branches. A discriminator on a base schema — the OpenAPI 3.0 inheritance
// pattern CAMARA uses, where Area {areaType} maps CIRCLE to Circle, and
// Circle is allOf [Area, {center, radius}] — is ignored: the value is
// checked against Area alone, so a CIRCLE without a center, with radius 0
// or with latitude 91 passed. discriminate enforces these discriminators.

// discriminatorPaths returns the schemas reachable from body through
// which a discriminator that kin-openapi ignores (isBaseDiscriminator) can
// be reached, body included; nil when there is none. It runs once per
// operation at compile time: discriminate walks only into these schemas,
// and operations without such discriminators skip the walk entirely.
func discriminatorPaths(doc *openapi3.T, body *openapi3.Schema) map[*openapi3.Schema]bool {
	children := map[*openapi3.Schema][]*openapi3.Schema{}
	var collect func(s *openapi3.Schema)
	collect = func(s *openapi3.Schema) {
		if s == nil {
			return
		}
		if _, done := children[s]; done {
			return
		}
		var kids []*openapi3.Schema
		add := func(ref *openapi3.SchemaRef) {
			if ref != nil && ref.Value != nil {
				kids = append(kids, ref.Value)
			}
		}
		for _, p := range s.Properties {
			add(p)
		}
		for _, group := range [][]*openapi3.SchemaRef{s.AllOf, s.OneOf, s.AnyOf} {
			for _, sub := range group {
				add(sub)
			}
		}
		add(s.Items)
		add(s.AdditionalProperties.Schema)
		kids = append(kids, discriminatorTargets(doc, s)...)
		children[s] = kids
		for _, k := range kids {
			collect(k)
		}
	}
	collect(body)
	reach := map[*openapi3.Schema]bool{}
	for s := range children {
		if isBaseDiscriminator(s) {
			reach[s] = true
		}
	}
	for changed := len(reach) > 0; changed; {
		changed = false
		for s, kids := range children {
			if reach[s] {
				continue
			}
			for _, k := range kids {
				if reach[k] {
					reach[s], changed = true, true
					break
				}
			}
		}
	}
	if !reach[body] {
		return nil
	}
	return reach
}

func isBaseDiscriminator(s *openapi3.Schema) bool {
	return s.Discriminator != nil && s.Discriminator.PropertyName != "" && len(s.OneOf) == 0 && len(s.AnyOf) == 0
}

// discriminate walks value along schema s (already validated against s by
// kin-openapi) and, wherever s is a base schema with a discriminator,
// validates the value against the schema its discriminator value selects.
// path is where value sits in the body; here lists the schemas already
// applied to this same value, which stops allOf cycles (Circle → Area →
// Circle). Recursion follows the value's nesting, which encoding/json
// bounds (10000 levels).
func discriminate(doc *openapi3.T, need map[*openapi3.Schema]bool, s *openapi3.Schema, value any, path []string, here []*openapi3.Schema, opts []openapi3.SchemaValidationOption) *problem.Error {
	if s == nil || slices.Contains(here, s) {
		return nil
	}
	here = append(here, s)
	switch v := value.(type) {
	case map[string]any:
		if isBaseDiscriminator(s) {
			target, p := discriminatorTarget(doc, s, v, path)
			if p != nil {
				return p
			}
			if !slices.Contains(here, target) {
				if err := target.VisitJSON(value, opts...); err != nil {
					return schemaProblem(err, "body", path)
				}
				if p := discriminate(doc, need, target, value, path, here, opts); p != nil {
					return p
				}
			}
		}
		for _, sub := range s.AllOf {
			if sub != nil && need[sub.Value] {
				if p := discriminate(doc, need, sub.Value, value, path, here, opts); p != nil {
					return p
				}
			}
		}
		// kin-openapi has already required exactly one oneOf branch (or at
		// least one anyOf branch) to match; look inside the one that does.
		for _, group := range [][]*openapi3.SchemaRef{s.OneOf, s.AnyOf} {
			for _, sub := range group {
				if sub != nil && need[sub.Value] && sub.Value.VisitJSON(value, opts...) == nil {
					if p := discriminate(doc, need, sub.Value, value, path, here, opts); p != nil {
						return p
					}
					break
				}
			}
		}
		var names []string
		for k := range v {
			if child := propertySchema(s, k); need[child] {
				names = append(names, k)
			}
		}
		slices.Sort(names) // the same body always gets the same answer
		for _, k := range names {
			if p := discriminate(doc, need, propertySchema(s, k), v[k], append(slices.Clip(path), k), nil, opts); p != nil {
				return p
			}
		}
	case []any:
		if s.Items != nil && need[s.Items.Value] {
			for i, item := range v {
				if p := discriminate(doc, need, s.Items.Value, item, append(slices.Clip(path), strconv.Itoa(i)), nil, opts); p != nil {
					return p
				}
			}
		}
	}
	return nil
}

// propertySchema is the schema of s for member name, or nil.
func propertySchema(s *openapi3.Schema, name string) *openapi3.Schema {
	if ref := s.Properties[name]; ref != nil {
		return ref.Value
	}
	if ap := s.AdditionalProperties.Schema; ap != nil {
		return ap.Value
	}
	return nil
}

// discriminatorTarget returns the schema that obj's discriminator value
// selects: the mapping's entry, or else the component schema of that name
// that extends base through allOf (OpenAPI 3.0.3, Discriminator Object).
func discriminatorTarget(doc *openapi3.T, base *openapi3.Schema, obj map[string]any, path []string) (*openapi3.Schema, *problem.Error) {
	d := base.Discriminator
	field := strings.Join(append(slices.Clip(path), d.PropertyName), ".")
	raw, ok := obj[d.PropertyName]
	if !ok {
		return nil, problem.Newf(problem.BadRequestSchemaViolation,
			"%s: property %q is missing (it selects the type of %s).", field, d.PropertyName, orRoot(path)).With("field", field)
	}
	name, ok := raw.(string)
	if ok {
		if ref, found := d.Mapping[name]; found {
			if ref.Value != nil {
				return ref.Value, nil
			}
			if c := component(doc, ref.Ref); c != nil {
				return c, nil
			}
		}
		if c := component(doc, name); c != nil && extends(c, base) && !mappedTo(doc, base, c) {
			return c, nil
		}
	}
	return nil, problem.Newf(problem.BadRequestSchemaViolation,
		"%s: value is not one of the types the API defines (%s).", field, strings.Join(discriminatorValues(doc, base), ", ")).With("field", field)
}

// discriminatorTargets returns the schemas s's discriminator can select:
// its mapping's (kin-openapi leaves their Value unresolved) and the
// component schemas that extend s through allOf.
func discriminatorTargets(doc *openapi3.T, s *openapi3.Schema) []*openapi3.Schema {
	d := s.Discriminator
	if d == nil {
		return nil
	}
	var out []*openapi3.Schema
	for _, ref := range d.Mapping {
		v := ref.Value
		if v == nil {
			v = component(doc, ref.Ref)
		}
		if v != nil && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	if doc != nil && doc.Components != nil {
		for _, c := range doc.Components.Schemas {
			if c != nil && c.Value != nil && extends(c.Value, s) && !slices.Contains(out, c.Value) {
				out = append(out, c.Value)
			}
		}
	}
	return out
}

// component resolves "#/components/schemas/Name" or "Name".
func component(doc *openapi3.T, ref string) *openapi3.Schema {
	if doc == nil || doc.Components == nil {
		return nil
	}
	name := strings.TrimPrefix(ref, "#/components/schemas/")
	if c := doc.Components.Schemas[name]; c != nil {
		return c.Value
	}
	return nil
}

// extends reports whether s lists base in its allOf.
func extends(s, base *openapi3.Schema) bool {
	for _, sub := range s.AllOf {
		if sub != nil && sub.Value == base {
			return true
		}
	}
	return false
}

// discriminatorValues lists the values a base schema's discriminator
// accepts, sorted: its mapping's keys and the names of the component
// schemas that extend it.
func discriminatorValues(doc *openapi3.T, base *openapi3.Schema) []string {
	var out []string
	for k := range base.Discriminator.Mapping {
		out = append(out, k)
	}
	if doc != nil && doc.Components != nil {
		for name, c := range doc.Components.Schemas {
			if c != nil && c.Value != nil && extends(c.Value, base) && !slices.Contains(out, name) {
				if _, mapped := base.Discriminator.Mapping[name]; !mapped && !mappedTo(doc, base, c.Value) {
					out = append(out, name)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// mappedTo reports whether the mapping already names s under another value.
func mappedTo(doc *openapi3.T, base, s *openapi3.Schema) bool {
	for _, ref := range base.Discriminator.Mapping {
		if ref.Value == s || (ref.Value == nil && component(doc, ref.Ref) == s) {
			return true
		}
	}
	return false
}

func orRoot(path []string) string {
	if len(path) == 0 {
		return "the body"
	}
	return strings.Join(path, ".")
}
