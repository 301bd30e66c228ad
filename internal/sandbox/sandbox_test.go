package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"gatehouse/internal/testcamara"
)

// loadDoc parses and validates an OpenAPI document, examples included.
func loadDoc(t testing.TB, name string, data []byte) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(data)
	if err != nil {
		t.Fatalf("%s: load: %v", name, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("%s: validate: %v", name, err)
	}
	return doc
}

// ourDocs loads every sandbox definition, by name.
func ourDocs(t testing.TB) map[string]*openapi3.T {
	t.Helper()
	docs := map[string]*openapi3.T{}
	for _, d := range Definitions() {
		docs[d.Name] = loadDoc(t, d.Name, d.Document)
	}
	return docs
}

// camaraDocs loads the CAMARA definitions the sandbox must stay
// wire-compatible with (testcamara), by name; ok is false when they are
// absent.
func camaraDocs(t testing.TB) (docs map[string]*openapi3.T, ok bool) {
	t.Helper()
	if _, ok := testcamara.Dir(); !ok {
		return nil, false
	}
	docs = map[string]*openapi3.T{}
	for _, d := range Definitions() {
		docs[d.Name] = loadDoc(t, "CAMARA "+d.Name, testcamara.Read(t, d.Name+".yaml"))
	}
	return docs, true
}

// serverPath is the path of a document's first server URL with the
// variables at their defaults ("{apiRoot}/sim-swap/v2" → "/sim-swap/v2").
func serverPath(t testing.TB, doc *openapi3.T) string {
	t.Helper()
	if len(doc.Servers) == 0 {
		t.Fatal("no servers")
	}
	raw := doc.Servers[0].URL
	for name, v := range doc.Servers[0].Variables {
		raw = strings.ReplaceAll(raw, "{"+name+"}", v.Default)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("server URL %q: %v", raw, err)
	}
	return strings.TrimSuffix(u.Path, "/")
}

// operations lists a document's operations as "METHOD /full/path".
func operations(t testing.TB, doc *openapi3.T) map[string]*routers.Route {
	t.Helper()
	base := serverPath(t, doc)
	ops := map[string]*routers.Route{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops[method+" "+base+path] = &routers.Route{
				Spec: doc, Server: doc.Servers[0], Path: path, PathItem: item, Method: method, Operation: op,
			}
		}
	}
	return ops
}

func TestDefinitions(t *testing.T) {
	defs := Definitions()
	if got, want := len(defs), 3; got != want {
		t.Fatalf("got %d definitions; want %d", got, want)
	}
	served := map[string]bool{}
	for _, rt := range routes {
		served[rt.method+" "+rt.path] = true
	}
	for _, d := range defs {
		t.Run(d.Name, func(t *testing.T) {
			doc := loadDoc(t, d.Name, d.Document)
			if got, want := doc.OpenAPI, "3.0.3"; got != want {
				t.Errorf("openapi %q; want %q", got, want)
			}
			if !strings.HasSuffix(doc.Info.Title, "(gatehouse sandbox)") {
				t.Errorf("info.title %q does not say it is the gatehouse sandbox's", doc.Info.Title)
			}
			if doc.Info.License == nil || doc.Info.License.Name == "" {
				t.Error("info.license is missing")
			}
			if got := serverPath(t, doc); got != d.BasePath {
				t.Errorf("server path %q; BasePath %q", got, d.BasePath)
			}
			if !strings.HasPrefix(d.BasePath, "/"+d.Name+"/") {
				t.Errorf("BasePath %q does not start with the name %q", d.BasePath, d.Name)
			}
			for key, rt := range operations(t, doc) {
				if !served[key] {
					t.Errorf("%s is defined but the handler does not serve it", key)
				}
				delete(served, key)
				if _, ok := rt.Operation.Extensions["x-gatehouse-sandbox-rules"]; !ok {
					t.Errorf("%s has no x-gatehouse-sandbox-rules", key)
				}
			}
		})
	}
	for key := range served {
		t.Errorf("the handler serves %s, which no definition documents", key)
	}

	// Each call hands out its own copies.
	defs[0].Document[0] = 'X'
	if Definitions()[0].Document[0] == 'X' {
		t.Error("changing a returned Document changed the next call's")
	}
}

func TestWireCompatibleWithCAMARA(t *testing.T) {
	theirs, ok := camaraDocs(t)
	if !ok {
		t.Skip(testcamara.SkipMessage)
	}
	for name, doc := range ourDocs(t) {
		t.Run(name, func(t *testing.T) {
			camara := theirs[name]
			if got, want := serverPath(t, doc), serverPath(t, camara); got != want {
				t.Errorf("server path %q; CAMARA %q", got, want)
			}
			ourOps, camaraOps := operations(t, doc), operations(t, camara)
			for key := range camaraOps {
				if ourOps[key] == nil {
					t.Errorf("CAMARA defines %s; we do not", key)
				}
			}
			for key, rt := range ourOps {
				c := camaraOps[key]
				if c == nil {
					t.Errorf("we define %s; CAMARA does not", key)
					continue
				}
				var diffs []string
				diffTrees(key, operationShape(rt), operationShape(c), &diffs)
				for _, d := range diffs {
					t.Error(d)
				}
			}
		})
	}
}

// operationShape is what an operation means on the wire: security, the
// parameters, the request body and every response, with $refs resolved and
// prose (descriptions, examples, names of components) left out.
func operationShape(rt *routers.Route) map[string]any {
	doc, op := rt.Spec, rt.Operation
	reqs := doc.Security
	if op.Security != nil {
		reqs = *op.Security
	}
	var security []string
	for _, req := range reqs {
		var alt []string
		for scheme, scopes := range req {
			kind := "?"
			if ref := doc.Components.SecuritySchemes[scheme]; ref != nil && ref.Value != nil {
				kind = ref.Value.Type
			}
			s := slices.Clone(scopes)
			sort.Strings(s)
			alt = append(alt, scheme+"("+kind+"): "+strings.Join(s, " "))
		}
		sort.Strings(alt)
		security = append(security, strings.Join(alt, " AND "))
	}
	sort.Strings(security)

	params := map[string]any{}
	for _, p := range append(slices.Clone(rt.PathItem.Parameters), op.Parameters...) {
		v := p.Value
		params[v.In+" "+strings.ToLower(v.Name)] = map[string]any{
			"required": v.Required, "schema": schemaShape(doc, v.Schema, nil),
		}
	}

	shape := map[string]any{"security": security, "parameters": params}
	if rb := op.RequestBody; rb != nil && rb.Value != nil {
		shape["requestBody"] = map[string]any{
			"required": rb.Value.Required, "content": contentShape(doc, rb.Value.Content),
		}
	}
	responses := map[string]any{}
	for status, ref := range op.Responses.Map() {
		r := ref.Value
		headers := map[string]any{}
		for name, h := range r.Headers {
			headers[strings.ToLower(name)] = map[string]any{
				"required": h.Value.Required, "schema": schemaShape(doc, h.Value.Schema, nil),
			}
		}
		responses[status] = map[string]any{"headers": headers, "content": contentShape(doc, r.Content)}
	}
	shape["responses"] = responses
	return shape
}

func contentShape(doc *openapi3.T, c openapi3.Content) map[string]any {
	out := map[string]any{}
	for mediaType, mt := range c {
		out[mediaType] = schemaShape(doc, mt.Schema, nil)
	}
	return out
}

// schemaShape renders a schema as a tree of the keywords that constrain
// JSON on the wire, with $refs inlined. A schema met again below itself
// becomes {"$cycle": n}, n levels up, so that equal structures compare
// equal whatever their components are called. doc resolves the
// discriminator mappings, which the loader leaves as bare references.
func schemaShape(doc *openapi3.T, ref *openapi3.SchemaRef, stack []*openapi3.Schema) any {
	if ref == nil {
		return nil
	}
	s := ref.Value
	if name, ok := strings.CutPrefix(ref.Ref, "#/components/schemas/"); s == nil && ok && doc != nil {
		if c := doc.Components.Schemas[name]; c != nil {
			s = c.Value
		}
	}
	if s == nil {
		return "unresolved " + ref.Ref
	}
	for i := len(stack) - 1; i >= 0; i-- {
		if stack[i] == s {
			return map[string]any{"$cycle": len(stack) - i}
		}
	}
	stack = append(stack, s)
	m := map[string]any{}
	set := func(k string, v any, zero bool) {
		if !zero {
			m[k] = v
		}
	}
	if s.Type != nil {
		set("type", []string(*s.Type), len(*s.Type) == 0)
	}
	set("format", s.Format, s.Format == "")
	set("pattern", s.Pattern, s.Pattern == "")
	set("nullable", s.Nullable, !s.Nullable)
	set("readOnly", s.ReadOnly, !s.ReadOnly)
	set("writeOnly", s.WriteOnly, !s.WriteOnly)
	set("uniqueItems", s.UniqueItems, !s.UniqueItems)
	var enum []string
	for _, v := range s.Enum {
		b, _ := json.Marshal(v)
		enum = append(enum, string(b))
	}
	sort.Strings(enum)
	set("enum", enum, len(enum) == 0)
	if s.Default != nil {
		b, _ := json.Marshal(s.Default)
		m["default"] = string(b)
	}
	required := slices.Clone(s.Required)
	sort.Strings(required)
	set("required", required, len(required) == 0)
	for k, p := range map[string]*float64{"minimum": s.Min, "maximum": s.Max, "multipleOf": s.MultipleOf} {
		if p != nil {
			m[k] = *p
		}
	}
	for k, b := range map[string]openapi3.ExclusiveBound{"exclusiveMinimum": s.ExclusiveMin, "exclusiveMaximum": s.ExclusiveMax} {
		if b.IsSet() {
			m[k] = fmt.Sprint(b.Bool != nil && *b.Bool, b.Value)
		}
	}
	for k, v := range map[string]uint64{"minLength": s.MinLength, "minItems": s.MinItems, "minProperties": s.MinProps} {
		set(k, v, v == 0)
	}
	for k, p := range map[string]*uint64{"maxLength": s.MaxLength, "maxItems": s.MaxItems, "maxProperties": s.MaxProps} {
		if p != nil {
			m[k] = *p
		}
	}
	if len(s.Properties) > 0 {
		props := map[string]any{}
		for name, p := range s.Properties {
			props[name] = schemaShape(doc, p, stack)
		}
		m["properties"] = props
	}
	if ap := s.AdditionalProperties; ap.Has != nil || ap.Schema != nil {
		m["additionalProperties"] = map[string]any{"has": fmt.Sprint(ap.Has != nil && *ap.Has), "schema": schemaShape(doc, ap.Schema, stack)}
	}
	if s.Items != nil {
		m["items"] = schemaShape(doc, s.Items, stack)
	}
	for k, list := range map[string]openapi3.SchemaRefs{"allOf": s.AllOf, "anyOf": s.AnyOf, "oneOf": s.OneOf} {
		if len(list) > 0 {
			var out []any
			for _, item := range list {
				out = append(out, schemaShape(doc, item, stack))
			}
			m[k] = out
		}
	}
	if s.Not != nil {
		m["not"] = schemaShape(doc, s.Not, stack)
	}
	if d := s.Discriminator; d != nil {
		mapping := map[string]any{}
		for k, mr := range d.Mapping {
			target := openapi3.SchemaRef(mr)
			mapping[k] = schemaShape(doc, &target, stack)
		}
		m["discriminator"] = map[string]any{"propertyName": d.PropertyName, "mapping": mapping}
	}
	return m
}

// diffTrees appends to diffs a line for every place where ours and the
// CAMARA tree differ.
func diffTrees(path string, ours, theirs any, diffs *[]string) {
	om, ok1 := ours.(map[string]any)
	tm, ok2 := theirs.(map[string]any)
	if ok1 && ok2 {
		keys := map[string]bool{}
		for k := range om {
			keys[k] = true
		}
		for k := range tm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			o, inOurs := om[k]
			c, inTheirs := tm[k]
			switch {
			case !inOurs:
				*diffs = append(*diffs, fmt.Sprintf("%s.%s: missing in ours; CAMARA has %v", path, k, c))
			case !inTheirs:
				*diffs = append(*diffs, fmt.Sprintf("%s.%s: ours has %v; CAMARA has none", path, k, o))
			default:
				diffTrees(path+"."+k, o, c, diffs)
			}
		}
		return
	}
	ol, ok1 := ours.([]any)
	tl, ok2 := theirs.([]any)
	if ok1 && ok2 && len(ol) == len(tl) {
		for i := range ol {
			diffTrees(path+"["+strconv.Itoa(i)+"]", ol[i], tl[i], diffs)
		}
		return
	}
	if !reflect.DeepEqual(ours, theirs) {
		*diffs = append(*diffs, fmt.Sprintf("%s: ours %v; CAMARA %v", path, ours, theirs))
	}
}

// TestSchemaShapeNoticesDifferences keeps the compatibility check honest:
// it must see a changed pattern, a dropped required member and a renamed
// property.
func TestSchemaShapeNoticesDifferences(t *testing.T) {
	base := `{"type":"object","required":["a"],"properties":{"a":{"type":"string","pattern":"^x$"}}}`
	for name, other := range map[string]string{
		"pattern":  `{"type":"object","required":["a"],"properties":{"a":{"type":"string","pattern":"^y$"}}}`,
		"required": `{"type":"object","properties":{"a":{"type":"string","pattern":"^x$"}}}`,
		"property": `{"type":"object","required":["a"],"properties":{"b":{"type":"string","pattern":"^x$"}}}`,
		"type":     `{"type":"object","required":["a"],"properties":{"a":{"type":"integer","pattern":"^x$"}}}`,
	} {
		var a, b openapi3.Schema
		if err := json.Unmarshal([]byte(base), &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(other), &b); err != nil {
			t.Fatal(err)
		}
		var diffs []string
		diffTrees("s", schemaShape(nil, &openapi3.SchemaRef{Value: &a}, nil), schemaShape(nil, &openapi3.SchemaRef{Value: &b}, nil), &diffs)
		if len(diffs) == 0 {
			t.Errorf("%s: a difference went unnoticed", name)
		}
	}
}

// call is one request to the sandbox and the answer it must get.
type call struct {
	name    string
	method  string
	path    string
	subject string // X-Gatehouse-Subject; "" for a two-legged token
	body    string
	status  int
	want    string // the exact JSON answer, for 200
	code    string // the ErrorInfo code, for errors
	message string // the exact ErrorInfo message, when set
	// rejected marks requests the gateway's schema validation refuses, so
	// they only reach the sandbox if the gateway is bypassed.
	rejected bool
}

const (
	simCheck    = "/sim-swap/v2/check"
	simRetrieve = "/sim-swap/v2/retrieve-date"
	nvVerify    = "/number-verification/v2/verify"
	nvShare     = "/number-verification/v2/device-phone-number"
	lvVerify    = "/location-verification/v3/verify"
	circle      = `{"areaType":"CIRCLE","center":{"latitude":50.7358,"longitude":7.1006},"radius":2000}`
)

func line(digit int) string { return "+3460000000" + strconv.Itoa(digit) }

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// calls lists a request for every sandbox rule.
func calls() []call {
	post := http.MethodPost
	var cs []call
	checkWant := map[int]string{1: `{"swapped":true}`, 2: `{"swapped":false}`}
	retrieveWant := map[int]string{
		1: `{"latestSimChange":"2026-01-15T09:30:00Z"}`,
		2: `{"latestSimChange":null,"monitoredPeriod":120}`,
		6: `{"latestSimChange":null}`,
		8: `{"latestSimChange":"2024-03-01T08:30:00Z"}`,
	}
	for _, d := range []int{5, 7, 9} {
		checkWant[d], retrieveWant[d] = checkWant[1], retrieveWant[1]
	}
	for _, d := range []int{0, 6, 8} {
		checkWant[d] = checkWant[2]
	}
	retrieveWant[0] = retrieveWant[2]
	for d := range 10 {
		body := fmt.Sprintf(`{"phoneNumber":%q}`, line(d))
		check := call{name: "check digit " + strconv.Itoa(d), method: post, path: simCheck, body: body, status: 200, want: checkWant[d]}
		retrieve := call{name: "retrieve-date digit " + strconv.Itoa(d), method: post, path: simRetrieve, body: body, status: 200, want: retrieveWant[d]}
		switch d {
		case 3:
			check.status, check.want, check.code = 422, "", "SERVICE_NOT_APPLICABLE"
			retrieve.status, retrieve.want, retrieve.code = 422, "", "SERVICE_NOT_APPLICABLE"
		case 4:
			check.status, check.want, check.code = 404, "", "IDENTIFIER_NOT_FOUND"
			retrieve.status, retrieve.want, retrieve.code = 404, "", "IDENTIFIER_NOT_FOUND"
		}
		cs = append(cs, check, retrieve)
	}
	cs = append(cs,
		call{name: "check 3-legged", method: post, path: simCheck, subject: line(1), body: `{"maxAge":1}`, status: 200, want: `{"swapped":true}`},
		call{name: "check 3-legged tel: form", method: post, path: simCheck, subject: "tel:" + line(2), body: `{}`, status: 200, want: `{"swapped":false}`},
		call{name: "check maxAge 2400", method: post, path: simCheck, body: `{"phoneNumber":"+34600000001","maxAge":2400}`, status: 200, want: `{"swapped":true}`},
		call{name: "check maxAge 0", method: post, path: simCheck, body: `{"phoneNumber":"+34600000001","maxAge":0}`, status: 400, code: "OUT_OF_RANGE", rejected: true},
		call{name: "check maxAge 2401", method: post, path: simCheck, body: `{"phoneNumber":"+34600000001","maxAge":2401}`, status: 400, code: "OUT_OF_RANGE", rejected: true},
		call{name: "check missing identifier", method: post, path: simCheck, body: `{"maxAge":24}`, status: 422, code: "MISSING_IDENTIFIER"},
		call{name: "check unnecessary identifier", method: post, path: simCheck, subject: line(1), body: `{"phoneNumber":"+34600000001"}`, status: 422, code: "UNNECESSARY_IDENTIFIER"},
		call{name: "check bad phone number", method: post, path: simCheck, body: `{"phoneNumber":"0034600000001"}`, status: 400, code: "INVALID_ARGUMENT", rejected: true},
		call{name: "check not JSON", method: post, path: simCheck, body: `{"phoneNumber":`, status: 400, code: "INVALID_ARGUMENT", rejected: true},
		call{name: "retrieve-date 3-legged", method: post, path: simRetrieve, subject: line(8), body: `{}`, status: 200, want: retrieveWant[8]},
		call{name: "retrieve-date missing identifier", method: post, path: simRetrieve, body: `{}`, status: 422, code: "MISSING_IDENTIFIER"},
		call{name: "retrieve-date unnecessary identifier", method: post, path: simRetrieve, subject: line(5), body: `{"phoneNumber":"+34600000005"}`, status: 422, code: "UNNECESSARY_IDENTIFIER"},

		call{name: "verify same number", method: post, path: nvVerify, subject: line(1), body: `{"phoneNumber":"+34600000001"}`, status: 200, want: `{"devicePhoneNumberVerified":true}`},
		call{name: "verify other number", method: post, path: nvVerify, subject: line(1), body: `{"phoneNumber":"+34600000002"}`, status: 200, want: `{"devicePhoneNumberVerified":false}`},
		call{name: "verify hash", method: post, path: nvVerify, subject: line(1), body: `{"hashedPhoneNumber":"` + sha(line(1)) + `"}`, status: 200, want: `{"devicePhoneNumberVerified":true}`},
		call{name: "verify hash upper case", method: post, path: nvVerify, subject: line(1), body: `{"hashedPhoneNumber":"` + strings.ToUpper(sha(line(1))) + `"}`, status: 200, want: `{"devicePhoneNumberVerified":true}`},
		call{name: "verify hash of number without +", method: post, path: nvVerify, subject: line(1), body: `{"hashedPhoneNumber":"` + sha(line(1)[1:]) + `"}`, status: 200, want: `{"devicePhoneNumberVerified":false}`},
		call{name: "verify two-legged", method: post, path: nvVerify, body: `{"phoneNumber":"+34600000001"}`, status: 403, code: "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK"},
		call{name: "verify both forms", method: post, path: nvVerify, subject: line(1), body: `{"phoneNumber":"+34600000001","hashedPhoneNumber":"` + sha(line(1)) + `"}`, status: 400, code: "INVALID_ARGUMENT", rejected: true},
		call{name: "verify empty", method: post, path: nvVerify, subject: line(1), body: `{}`, status: 400, code: "INVALID_ARGUMENT", rejected: true},
		call{name: "verify short hash", method: post, path: nvVerify, subject: line(1), body: `{"hashedPhoneNumber":"abc"}`, status: 400, code: "INVALID_ARGUMENT", rejected: true},
		call{name: "device-phone-number", method: http.MethodGet, path: nvShare, subject: line(7), status: 200, want: `{"devicePhoneNumber":"+34600000007"}`},
		call{name: "device-phone-number two-legged", method: http.MethodGet, path: nvShare, status: 403, code: "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK"},
		call{name: "device-phone-number malformed subject", method: http.MethodGet, path: nvShare, subject: "alice", status: 403, code: "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK"},
	)

	locationWant := map[int]string{
		1: `{"verificationResult":"TRUE","lastLocationTime":"2026-01-15T09:59:00Z","device":{"phoneNumber":"+34600000001"}}`,
		2: `{"verificationResult":"FALSE","lastLocationTime":"2026-01-15T09:59:00Z","device":{"phoneNumber":"+34600000002"}}`,
		3: `{"verificationResult":"PARTIAL","matchRate":50,"lastLocationTime":"2026-01-15T09:59:00Z","device":{"phoneNumber":"+34600000003"}}`,
	}
	for d := range 10 {
		c := call{name: "location digit " + strconv.Itoa(d), method: post, path: lvVerify,
			body: fmt.Sprintf(`{"device":{"phoneNumber":%q},"area":%s,"maxAge":120}`, line(d), circle)}
		switch d {
		case 1, 2, 3:
			c.status, c.want = 200, locationWant[d]
		case 4:
			c.status, c.code = 404, "IDENTIFIER_NOT_FOUND"
		case 5:
			c.status, c.code = 422, "LOCATION_VERIFICATION.AREA_NOT_COVERED"
		default:
			c.status, c.code = 422, "LOCATION_VERIFICATION.UNABLE_TO_LOCATE"
		}
		cs = append(cs, c)
	}
	cs = append(cs,
		call{name: "location 3-legged", method: post, path: lvVerify, subject: line(1), body: `{"area":` + circle + `}`, status: 200,
			want: `{"verificationResult":"TRUE","lastLocationTime":"2026-01-15T09:59:00Z"}`},
		call{name: "location maxAge 60", method: post, path: lvVerify, subject: line(3), body: `{"area":` + circle + `,"maxAge":60}`, status: 200,
			want: `{"verificationResult":"PARTIAL","matchRate":50,"lastLocationTime":"2026-01-15T09:59:00Z"}`},
		call{name: "location maxAge 59", method: post, path: lvVerify, subject: line(2), body: `{"area":` + circle + `,"maxAge":59}`, status: 422, code: "LOCATION_VERIFICATION.UNABLE_TO_FULFILL_MAX_AGE"},
		call{name: "location maxAge 0", method: post, path: lvVerify, subject: line(1), body: `{"area":` + circle + `,"maxAge":0}`, status: 422, code: "LOCATION_VERIFICATION.UNABLE_TO_FULFILL_MAX_AGE"},
		call{name: "location negative maxAge", method: post, path: lvVerify, subject: line(1), body: `{"area":` + circle + `,"maxAge":-1}`, status: 400, code: "OUT_OF_RANGE"},
		call{name: "location several identifiers", method: post, path: lvVerify,
			body: `{"device":{"ipv4Address":{"publicAddress":"84.125.93.10","publicPort":59765},"phoneNumber":"+34600000001"},"area":` + circle + `}`, status: 200, want: locationWant[1]},
		call{name: "location IP address only", method: post, path: lvVerify,
			body: `{"device":{"ipv4Address":{"publicAddress":"84.125.93.10","publicPort":59765}},"area":` + circle + `}`, status: 422, code: "UNSUPPORTED_IDENTIFIER"},
		call{name: "location missing identifier", method: post, path: lvVerify, body: `{"area":` + circle + `}`, status: 422, code: "MISSING_IDENTIFIER"},
		call{name: "location unnecessary identifier", method: post, path: lvVerify, subject: line(1),
			body: `{"device":{"phoneNumber":"+34600000001"},"area":` + circle + `}`, status: 422, code: "UNNECESSARY_IDENTIFIER"},
		call{name: "location no area", method: post, path: lvVerify, subject: line(1), body: `{"maxAge":120}`, status: 400, code: "INVALID_ARGUMENT", rejected: true},
		call{name: "location zero radius", method: post, path: lvVerify, subject: line(1),
			body: `{"area":{"areaType":"CIRCLE","center":{"latitude":1,"longitude":2},"radius":0}}`, status: 400, code: "OUT_OF_RANGE", rejected: true},
		call{name: "location latitude 91", method: post, path: lvVerify, subject: line(1),
			body: `{"area":{"areaType":"CIRCLE","center":{"latitude":91,"longitude":2},"radius":10}}`, status: 400, code: "OUT_OF_RANGE", rejected: true},
		call{name: "location empty device", method: post, path: lvVerify, body: `{"device":{},"area":` + circle + `}`, status: 400, code: "INVALID_ARGUMENT", rejected: true},
	)
	return cs
}

// response is what a test keeps of an answer; Date is left out.
type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t testing.TB, client *http.Client, base string, c call, correlator string) response {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, base+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.subject != "" {
		req.Header.Set(SubjectHeader, c.subject)
	}
	if correlator != "" {
		req.Header.Set("x-correlator", correlator)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	res.Header.Del("Date")
	return response{res.StatusCode, res.Header, b}
}

// validationRequest rebuilds the request a call makes, for kin-openapi.
func validationRequest(c call) *http.Request {
	req := httptest.NewRequest(c.method, "http://localhost:8080"+c.path, strings.NewReader(c.body))
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("x-correlator", "b4333c46-49c0-4f62-80d7-f0ef930f1c46")
	return req
}

func TestRules(t *testing.T) { runCalls(t, calls()) }

// runCalls sends each call to the handler over HTTP on loopback and checks
// the answer: status, body or code, correlator, and that the request and the
// answer follow our definitions (and CAMARA's, when present).
func runCalls(t *testing.T, cs []call) {
	srv := httptest.NewServer(fixedHandler())
	defer srv.Close()
	ours := ourDocs(t)
	theirs, haveCAMARA := camaraDocs(t)
	if !haveCAMARA {
		t.Log(testcamara.SkipMessage)
	}
	ourOps, camaraOps := map[string]*routers.Route{}, map[string]*routers.Route{}
	for name, doc := range ours {
		for k, v := range operations(t, doc) {
			ourOps[k] = v
		}
		if haveCAMARA {
			for k, v := range operations(t, theirs[name]) {
				camaraOps[k] = v
			}
		}
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}

	for _, c := range cs {
		t.Run(c.name, func(t *testing.T) {
			const correlator = "b4333c46-49c0-4f62-80d7-f0ef930f1c46"
			res := do(t, srv.Client(), srv.URL, c, correlator)
			if res.status != c.status {
				t.Fatalf("got status %d, body %s; want %d", res.status, res.body, c.status)
			}
			if got := res.header.Get("Content-Type"); got != "application/json" {
				t.Errorf("got Content-Type %q; want application/json", got)
			}
			if got := res.header.Get("x-correlator"); got != correlator {
				t.Errorf("got x-correlator %q; want %q echoed", got, correlator)
			}
			if c.want != "" && !jsonEqual(res.body, []byte(c.want)) {
				t.Errorf("got body %s; want %s", res.body, c.want)
			}
			if c.code != "" {
				var e apiError
				if err := json.Unmarshal(res.body, &e); err != nil || e.Code != c.code || e.Status != c.status || e.Message == "" {
					t.Errorf("got body %s; want ErrorInfo status %d code %s", res.body, c.status, c.code)
				}
				if c.message != "" && e.Message != c.message {
					t.Errorf("got message %q; want %q", e.Message, c.message)
				}
			}

			key := c.method + " " + c.path
			check := func(who string, rt *routers.Route) {
				if rt == nil {
					t.Fatalf("%s defines no %s", who, key)
				}
				reqIn := &openapi3filter.RequestValidationInput{Request: validationRequest(c), Route: rt, Options: opts}
				if !c.rejected {
					if err := openapi3filter.ValidateRequest(context.Background(), reqIn); err != nil {
						t.Errorf("the request does not follow the %s definition: %v", who, err)
					}
				}
				resIn := &openapi3filter.ResponseValidationInput{
					RequestValidationInput: &openapi3filter.RequestValidationInput{Request: validationRequest(c), Route: rt},
					Status:                 res.status,
					Header:                 res.header,
					Options:                opts,
				}
				resIn.SetBodyBytes(res.body)
				if err := openapi3filter.ValidateResponse(context.Background(), resIn); err != nil {
					t.Errorf("the answer does not follow the %s definition: %v", who, err)
				}
			}
			check("gatehouse", ourOps[key])
			if haveCAMARA {
				check("CAMARA", camaraOps[key])
			}
		})
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// TestDeterministic sends every call several times at once and wants the
// same bytes back each time.
func TestDeterministic(t *testing.T) {
	srv := httptest.NewServer(fixedHandler())
	defer srv.Close()
	for _, c := range append(calls(), ruleCalls(t)...) {
		const n = 4
		got := make([]response, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { got[i] = do(t, srv.Client(), srv.URL, c, "") })
		}
		wg.Wait()
		// A second handler instance answers the same too.
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
		if c.subject != "" {
			req.Header.Set(SubjectHeader, c.subject)
		}
		fixedHandler().ServeHTTP(rec, req)
		got = append(got, response{rec.Code, rec.Header(), rec.Body.Bytes()})
		for i := 1; i < len(got); i++ {
			if got[i].status != got[0].status || !bytes.Equal(got[i].body, got[0].body) ||
				!reflect.DeepEqual(got[i].header, got[0].header) {
				t.Errorf("%s: answer %d differs: %d %v %s; first %d %v %s", c.name, i,
					got[i].status, got[i].header, got[i].body, got[0].status, got[0].header, got[0].body)
			}
		}
	}
}

func TestRoutingAndHeaders(t *testing.T) {
	srv := httptest.NewServer(fixedHandler())
	defer srv.Close()
	for _, tc := range []struct {
		name       string
		c          call
		correlator string
		allow      string
		echoed     bool
	}{
		{name: "unknown path", c: call{method: http.MethodGet, path: "/sim-swap/v2/nothing", status: 404, code: "NOT_FOUND"}},
		{name: "root", c: call{method: http.MethodGet, path: "/", status: 404, code: "NOT_FOUND"}},
		{name: "wrong method", c: call{method: http.MethodGet, path: simCheck, status: 405, code: "METHOD_NOT_ALLOWED"}, allow: "POST"},
		{name: "POST on a GET operation", c: call{method: http.MethodPost, path: nvShare, body: "{}", status: 405, code: "METHOD_NOT_ALLOWED"}, allow: "GET"},
		{name: "correlator outside the pattern not echoed", c: call{method: http.MethodPost, path: simCheck, body: `{"phoneNumber":"+34600000001"}`, status: 200}, correlator: `back\slash`},
		{name: "no correlator", c: call{method: http.MethodPost, path: simCheck, body: `{"phoneNumber":"+34600000001"}`, status: 200}},
		{name: "correlator echoed on errors", c: call{method: http.MethodPost, path: simCheck, body: `{}`, status: 422, code: "MISSING_IDENTIFIER"}, correlator: "abc-123", echoed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, srv.Client(), srv.URL, tc.c, tc.correlator)
			if res.status != tc.c.status {
				t.Fatalf("got %d %s; want %d", res.status, res.body, tc.c.status)
			}
			if got := res.header.Get("Allow"); got != tc.allow {
				t.Errorf("got Allow %q; want %q", got, tc.allow)
			}
			if got, want := res.header.Get("x-correlator") != "", tc.echoed; got != want {
				t.Errorf("x-correlator on the response: %v; want %v", got, want)
			}
			if tc.c.code != "" && !strings.Contains(string(res.body), `"code":"`+tc.c.code+`"`) {
				t.Errorf("got %s; want code %s", res.body, tc.c.code)
			}
		})
	}
}

// FuzzHandler feeds arbitrary bodies and subjects to every operation: the
// sandbox must never fail, and every answer must be one the operation's
// definition documents.
func FuzzHandler(f *testing.F) {
	for i := range routes {
		for _, body := range []string{"", "null", "[]", "{", `"x"`, "{}", `{"phoneNumber":null}`, `{"phoneNumber":5}`,
			`{"phoneNumber":"+34600000001"}`, `{"phoneNumber":"+34600000001"} {}`, `{"maxAge":"10"}`, `{"maxAge":1e400}`,
			`{"maxAge":1.5}`, `{"maxAge":2.0,"phoneNumber":"+34600000001"}`, `{"hashedPhoneNumber":[]}`,
			`{"area":[]}`, `{"area":{"areaType":"CIRCLE","center":{"latitude":"1","longitude":2},"radius":3}}`,
			`{"device":"x","area":` + circle + `}`, `{"device":{"phoneNumber":"+1"},"area":` + circle + `}`,
			"{\"phoneNumber\":\"+3460000000\xff\"}", strings.Repeat("[", 100000)} {
			f.Add(i, body, "")
			f.Add(i, body, "+34600000001")
		}
	}
	docs := ourDocs(f)
	ops := map[string]*routers.Route{}
	for _, doc := range docs {
		for k, v := range operations(f, doc) {
			ops[k] = v
		}
	}
	h := fixedHandler()
	f.Fuzz(func(t *testing.T, i int, body, subject string) {
		if i < 0 {
			i = -i
		}
		rt := routes[i%len(routes)]
		req := httptest.NewRequest(rt.method, rt.path, strings.NewReader(body))
		req.Header.Set(SubjectHeader, subject)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("got %d %s", rec.Code, rec.Body)
		}
		resIn := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, Route: ops[rt.method+" "+rt.path]},
			Status:                 rec.Code,
			Header:                 rec.Header(),
			Options:                &openapi3filter.Options{IncludeResponseStatus: true},
		}
		resIn.SetBodyBytes(rec.Body.Bytes())
		if err := openapi3filter.ValidateResponse(context.Background(), resIn); err != nil {
			t.Fatalf("undocumented answer %d %s: %v", rec.Code, rec.Body, err)
		}
	})
}

// fixedHandler answers at the rules tables' own instant: their times come
// back unchanged.
func fixedHandler() http.Handler { return HandlerAt(func() time.Time { return now }) }

// TestTimesRelative: the answers' instants are relative to the request's
// time, as old as the rules say whenever they are asked for: a swap 30
// minutes before, a location fixed a minute before (so within a maxAge of
// 120 seconds).
func TestTimesRelative(t *testing.T) {
	at := time.Date(2027, time.March, 1, 12, 0, 0, 0, time.UTC)
	srv := httptest.NewServer(HandlerAt(func() time.Time { return at }))
	defer srv.Close()
	for _, tc := range []struct{ path, body, want string }{
		{"/sim-swap/v2/retrieve-date", `{"phoneNumber":"+34600000001"}`, `{"latestSimChange":"2027-03-01T11:30:00Z"}`},
		{"/location-verification/v3/verify", `{"device":{"phoneNumber":"+34600000001"},"area":{"areaType":"CIRCLE","center":{"latitude":50.7358,"longitude":7.1006},"radius":2000},"maxAge":120}`,
			`{"verificationResult":"TRUE","lastLocationTime":"2027-03-01T11:59:00Z","device":{"phoneNumber":"+34600000001"}}`},
	} {
		resp, err := http.Post(srv.URL+tc.path, "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != tc.want {
			t.Errorf("POST %s at %s = %d %s; want %s", tc.path, at, resp.StatusCode, b, tc.want)
		}
	}
}
