package gateway

import (
	"encoding/json"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// fastSchemaDoc holds request body schemas for the fast form: plain ones
// (which must compile) and ones with keywords it leaves to kin-openapi
// (which must not).
const fastSchemaDoc = `{
  "openapi": "3.0.3",
  "info": {"title": "fast", "version": "1"},
  "paths": {"/x": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/bench"}}}},
    "responses": {"200": {"description": "ok"}}}}},
  "components": {"schemas": {
    "bench": {"type": "object", "required": ["phoneNumber"], "properties": {
      "phoneNumber": {"type": "string", "pattern": "^\\+[1-9][0-9]{4,14}$"},
      "maxAge": {"type": "integer", "minimum": 1, "maximum": 2400}}},
    "closed": {"type": "object", "additionalProperties": false, "required": ["a", "b"], "properties": {
      "a": {"type": "number", "minimum": -1.5, "maximum": 1e3, "description": "a"},
      "b": {"type": "boolean"},
      "c": {"type": "string", "minLength": 2, "maxLength": 4, "title": "c", "example": "ab"},
      "d": {"$ref": "#/components/schemas/inner"}}},
    "inner": {"type": "object", "additionalProperties": true, "properties": {
      "u": {"type": "string", "pattern": "^[a-z\\u00E9]*$"},
      "i": {"type": "integer"}}},
    "withFormat": {"type": "object", "properties": {"ip": {"type": "string", "format": "ipv4"}}},
    "withEnum": {"type": "object", "properties": {"e": {"type": "string", "enum": ["x"]}}},
    "nullable": {"type": "object", "properties": {"n": {"type": "string", "nullable": true}}},
    "readOnly": {"type": "object", "properties": {"r": {"type": "string", "readOnly": true}}},
    "allOf": {"allOf": [{"$ref": "#/components/schemas/inner"}]},
    "exclusive": {"type": "integer", "minimum": 0, "exclusiveMinimum": true},
    "array": {"type": "object", "properties": {"l": {"type": "array", "items": {"type": "string"}}}},
    "additionalSchema": {"type": "object", "additionalProperties": {"type": "string"}},
    "untyped": {"type": "object", "properties": {"any": {}}},
    "extension": {"type": "object", "x-thing": 1},
    "recursive": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/recursive"}}},
    "mixed": {"type": "string", "minimum": 1}
  }}
}`

var fastCompiled = map[string]bool{"bench": true, "closed": true, "inner": true}

func fastSchemas(t testing.TB) map[string]*openapi3.Schema {
	spec, err := LoadSpec([]byte(fastSchemaDoc))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*openapi3.Schema{}
	for name, ref := range spec.Doc.Components.Schemas {
		out[name] = ref.Value
	}
	return out
}

var fastValues = []string{
	`{"phoneNumber":"+34600000001","maxAge":240}`, `{"phoneNumber":"+34600000001"}`, `{"phoneNumber":"34600000001"}`,
	`{"phoneNumber":"+34600000001","maxAge":0}`, `{"phoneNumber":"+34600000001","maxAge":2400.5}`, `{"phoneNumber":"+34600000001","maxAge":2401}`,
	`{"phoneNumber":"+34600000001","maxAge":"240"}`, `{"phoneNumber":null}`, `{"maxAge":1}`, `{"phoneNumber":"+3460000000\n"}`,
	`{"a":1,"b":true}`, `{"a":-1.5,"b":false,"c":"abcd"}`, `{"a":1,"b":true,"c":"a"}`, `{"a":1,"b":true,"c":"abcde"}`,
	`{"a":1,"b":true,"x":1}`, `{"a":1001,"b":true}`, `{"a":1,"b":1}`, `{"a":1,"b":true,"d":{"u":"abé","i":3}}`,
	`{"a":1,"b":true,"d":{"u":"ABC"}}`, `{"a":1,"b":true,"d":{"i":3.5}}`, `{"a":1,"b":true,"d":{"zz":[1]}}`, `{"a":1,"b":true,"c":"𝄞𝄞"}`,
	`{"a":1,"b":true,"c":"éééé"}`, `{"ip":"1.2.3.4"}`, `{"ip":"x"}`, `{"e":"y"}`, `{"n":null}`, `{"r":"x"}`, `{"i":1}`, `0`, `1`,
	`{"l":["a"]}`, `{"l":[1]}`, `{"k":"v"}`, `{"k":1}`, `{"any":null}`, `{"next":{"next":{}}}`, `"s"`, `[]`, `null`, `true`,
}

func TestFastSchemaCompiles(t *testing.T) {
	for name, s := range fastSchemas(t) {
		if got := compileFastSchema(s) != nil; got != fastCompiled[name] {
			t.Errorf("compileFastSchema(%s) compiled = %v; want %v", name, got, fastCompiled[name])
		}
	}
}

// checkFastSchema fails when the fast form of a schema accepts a value
// kin-openapi refuses.
func checkFastSchema(t *testing.T, schemas map[string]*openapi3.Schema, body []byte) {
	t.Helper()
	var v any
	if json.Unmarshal(body, &v) != nil {
		return
	}
	for name, s := range schemas {
		f := compileFastSchema(s)
		if f == nil || !f.valid(v) {
			continue
		}
		if err := s.VisitJSON(v, openapi3.VisitAsRequest(), formatOption); err != nil {
			t.Fatalf("schema %s: the fast form accepts %s, which kin-openapi refuses: %v", name, body, err)
		}
	}
}

func TestFastSchemaAcceptsOnlyWhatKinAccepts(t *testing.T) {
	schemas := fastSchemas(t)
	accepted := 0
	for _, v := range fastValues {
		checkFastSchema(t, schemas, []byte(v))
		var x any
		_ = json.Unmarshal([]byte(v), &x)
		for name := range fastCompiled {
			if compileFastSchema(schemas[name]).valid(x) {
				accepted++
			}
		}
	}
	if accepted == 0 {
		t.Fatal("the fast forms accepted no value")
	}
	// The benchmark's body takes the fast path.
	var body any
	_ = json.Unmarshal([]byte(fastValues[0]), &body)
	if !compileFastSchema(schemas["bench"]).valid(body) {
		t.Error("the fast form of the benchmark schema refused its valid body")
	}
}

func FuzzFastSchema(f *testing.F) {
	for _, v := range fastValues {
		f.Add([]byte(v))
	}
	schemas := fastSchemas(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkFastSchema(t, schemas, body)
	})
}
