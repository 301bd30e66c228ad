package gateway

import (
	"encoding/json"
	"math"
	"regexp"
	"unicode/utf16"

	"github.com/getkin/kin-openapi/openapi3"
)

// fastSchema is a request body schema built only from the keywords whose
// meaning is plain (type, properties, required, additionalProperties as a
// boolean, pattern, minLength, maxLength, minimum, maximum), compiled so
// that a valid body is recognised without kin-openapi's per-call set-up,
// sorting and bookkeeping (its VisitJSON was about 4 % of gatehouse's CPU
// per proxied request). It only ever says "valid": a value it does not
// accept is validated by kin-openapi as before, which gives the exact
// error, so answers to invalid bodies cannot change; and it accepts only
// values kin-openapi's OpenAPI 3.0 validator accepts (checked by
// FuzzFastSchema). A schema with any other keyword, or any annotation
// but description, title and example, has no fast form.
type fastSchema struct {
	kind string // "object", "string", "integer", "number" or "boolean"

	// object
	properties map[string]*fastSchema
	required   []string
	closed     bool // additionalProperties: false

	// string
	minLength uint64
	maxLength *uint64
	pattern   *regexp.Regexp

	// integer, number
	minimum, maximum *float64
}

// fastKeywords are the schema keys a fast form may have, as kin-openapi
// marshals a schema (only the fields that are set).
var fastKeywords = map[string]bool{
	"type": true, "properties": true, "required": true, "additionalProperties": true,
	"pattern": true, "minLength": true, "maxLength": true, "minimum": true, "maximum": true,
	"description": true, "title": true, "example": true,
}

// maxFastSchemaDepth bounds the nesting compiled; deeper (or recursive)
// schemas have no fast form.
const maxFastSchemaDepth = 16

// compileFastSchema returns the fast form of s, or nil when it has none.
// Only for OpenAPI 3.0 documents: 3.1's JSON Schema 2020-12 validator is
// another code path in kin-openapi.
func compileFastSchema(s *openapi3.Schema) *fastSchema {
	return compileFast(s, 0)
}

func compileFast(s *openapi3.Schema, depth int) *fastSchema {
	if s == nil || depth > maxFastSchemaDepth || s.Type == nil || len(*s.Type) != 1 {
		return nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(b, &keys) != nil {
		return nil // a boolean schema, or a shape not known here
	}
	for k := range keys {
		if !fastKeywords[k] {
			return nil
		}
	}
	f := &fastSchema{kind: (*s.Type)[0]}
	objectOnly := s.Properties != nil || len(s.Required) > 0 || s.AdditionalProperties.Has != nil || s.AdditionalProperties.Schema != nil
	stringOnly := s.Pattern != "" || s.MinLength != 0 || s.MaxLength != nil
	numberOnly := s.Min != nil || s.Max != nil
	switch f.kind {
	case "object":
		if stringOnly || numberOnly || s.AdditionalProperties.Schema != nil {
			return nil
		}
		f.properties = make(map[string]*fastSchema, len(s.Properties))
		for name, ref := range s.Properties {
			if ref == nil {
				return nil
			}
			p := compileFast(ref.Value, depth+1)
			if p == nil {
				return nil
			}
			f.properties[name] = p
		}
		f.required = s.Required
		f.closed = s.AdditionalProperties.Has != nil && !*s.AdditionalProperties.Has
	case "string":
		if objectOnly || numberOnly {
			return nil
		}
		f.minLength, f.maxLength = s.MinLength, s.MaxLength
		if s.Pattern != "" {
			// As kin-openapi compiles it (schema_pattern.go).
			re, err := regexp.Compile(kinCodepoints.ReplaceAllString(s.Pattern, `\x{${code}}`))
			if err != nil {
				return nil
			}
			f.pattern = re
		}
	case "integer", "number":
		if objectOnly || stringOnly {
			return nil
		}
		f.minimum, f.maximum = s.Min, s.Max
	case "boolean":
		if objectOnly || stringOnly || numberOnly {
			return nil
		}
	default:
		return nil
	}
	return f
}

// kinCodepoints is kin-openapi's rewrite of \uXXXX escapes in patterns
// into Go's \x{XXXX}.
var kinCodepoints = regexp.MustCompile(`(?P<replaced_with_slash_x>\\u)(?P<code>[0-9A-F]{4})`)

// valid reports whether v, a value decoded from JSON, certainly matches
// the schema; false means "ask kin-openapi".
func (f *fastSchema) valid(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		if f.kind != "object" {
			return false
		}
		for k, val := range v {
			p := f.properties[k]
			if p == nil {
				if f.closed {
					return false
				}
				continue
			}
			if !p.valid(val) {
				return false
			}
		}
		for _, k := range f.required {
			if _, ok := v[k]; !ok {
				return false
			}
		}
		return true
	case string:
		if f.kind != "string" {
			return false
		}
		if f.minLength != 0 || f.maxLength != nil {
			// kin-openapi's count (schema_3point0_validator.go).
			n := uint64(0)
			for _, r := range v {
				if utf16.IsSurrogate(r) {
					n += 2
				} else {
					n++
				}
			}
			if n < f.minLength || (f.maxLength != nil && n > *f.maxLength) {
				return false
			}
		}
		return f.pattern == nil || f.pattern.MatchString(v)
	case float64:
		if f.kind != "integer" && f.kind != "number" {
			return false
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || (f.kind == "integer" && v != math.Trunc(v)) {
			return false
		}
		if f.minimum != nil && !(*f.minimum <= v) {
			return false
		}
		return f.maximum == nil || *f.maximum >= v
	case bool:
		return f.kind == "boolean"
	}
	return false // null, arrays, anything else
}
