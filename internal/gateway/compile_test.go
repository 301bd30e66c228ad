package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/store"
	"gatehouse/internal/testcamara"
	"gatehouse/internal/testclock"
)

// loadCAMARA loads one of the CAMARA files and compiles its operations,
// keyed by "METHOD template".
func loadCAMARA(t *testing.T, name string) (*Spec, map[string]*operation) {
	t.Helper()
	data := testcamara.Read(t, name)
	spec, err := LoadSpec(data)
	if err != nil {
		t.Fatalf("LoadSpec(%s): %v", name, err)
	}
	ops, err := spec.compileOperations()
	if err != nil {
		t.Fatalf("compileOperations(%s): %v", name, err)
	}
	byKey := map[string]*operation{}
	for _, op := range ops {
		k := op.method + " " + op.template
		if _, dup := byKey[k]; dup {
			t.Fatalf("%s: operation %s compiled twice", name, k)
		}
		byKey[k] = op
	}
	return spec, byKey
}

// compileCAMARA compiles one of the CAMARA files as the gateway serves it,
// mounted at its server path.
func compileCAMARA(t testing.TB, name string) *compiledAPI {
	t.Helper()
	data := testcamara.Read(t, name)
	spec, err := LoadSpec(data)
	if err != nil {
		t.Fatalf("LoadSpec(%s): %v", name, err)
	}
	g := New(Config{APIs: nopSource{}, Tokens: nopTokens{}})
	api, err := g.compile(&store.API{
		Name: strings.TrimSuffix(name, ".yaml"), BasePath: spec.ServerPath, Status: store.APILive,
		UpstreamURL: "http://127.0.0.1:9", Document: data,
	}, map[string]*httpUpstream{})
	if err != nil {
		t.Fatalf("compile(%s): %v", name, err)
	}
	return api
}

// wantOp is what an operation of a CAMARA file must compile to.
type wantOp struct {
	id           string
	security     [][]string
	consumes     []string // nil: takes no body
	produces     []string
	bodyRequired bool
	identifier   string
}

// TestCAMARADefinitions proves that routes, scopes, media types and the
// identifier rules are derived correctly from each real CAMARA file.
func TestCAMARADefinitions(t *testing.T) {
	jsonOnly := []string{"application/json"}
	cases := []struct {
		file       string
		serverPath string
		title      string
		scopes     []string
		ops        map[string]wantOp // by "METHOD template"
	}{
		{
			file: "sim-swap.yaml", serverPath: "/sim-swap/v2", title: "SIM Swap",
			scopes: []string{"sim-swap", "sim-swap:check", "sim-swap:retrieve-date"},
			ops: map[string]wantOp{
				"POST /check": {id: "checkSimSwap", security: [][]string{{"sim-swap:check"}, {"sim-swap"}},
					consumes: jsonOnly, produces: jsonOnly, bodyRequired: true, identifier: "phoneNumber"},
				"POST /retrieve-date": {id: "retrieveSimSwapDate", security: [][]string{{"sim-swap:retrieve-date"}, {"sim-swap"}},
					consumes: jsonOnly, produces: jsonOnly, bodyRequired: true, identifier: "phoneNumber"},
			},
		},
		{
			file: "number-verification.yaml", serverPath: "/number-verification/v2", title: "Number Verification",
			scopes: []string{"number-verification:device-phone-number:read", "number-verification:verify"},
			ops: map[string]wantOp{
				"POST /verify": {id: "phoneNumberVerify", security: [][]string{{"number-verification:verify"}},
					consumes: jsonOnly, produces: jsonOnly, bodyRequired: true},
				"GET /device-phone-number": {id: "phoneNumberShare", security: [][]string{{"number-verification:device-phone-number:read"}},
					produces: jsonOnly},
			},
		},
		{
			file: "location-verification.yaml", serverPath: "/location-verification/v3", title: "Device Location Verification",
			scopes: []string{"location-verification:verify"},
			ops: map[string]wantOp{
				"POST /verify": {id: "verifyLocation", security: [][]string{{"location-verification:verify"}},
					consumes: jsonOnly, produces: jsonOnly, bodyRequired: true, identifier: "device"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			spec, ops := loadCAMARA(t, tc.file)
			if got, want := spec.ServerPath, tc.serverPath; got != want {
				t.Errorf("ServerPath = %q; want %q", got, want)
			}
			if !strings.EqualFold(spec.Title, tc.title) {
				t.Errorf("Title = %q; want %q", spec.Title, tc.title)
			}
			if spec.jsonSchema2020 {
				t.Errorf("an OpenAPI 3.0 document was compiled with JSON Schema 2020 semantics")
			}
			if got, want := spec.Scopes, tc.scopes; !slices.Equal(got, want) {
				t.Errorf("Scopes = %q; want %q", got, want)
			}
			var got, want []string
			for k := range ops {
				got = append(got, k)
			}
			for k := range tc.ops {
				want = append(want, k)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("operations = %q; want exactly %q", got, want)
			}
			for k, w := range tc.ops {
				op := ops[k]
				if op.id != w.id {
					t.Errorf("%s: operationId = %q; want %q", k, op.id, w.id)
				}
				if !slices.EqualFunc(op.security, w.security, slices.Equal[[]string]) {
					t.Errorf("%s: security = %q; want %q", k, op.security, w.security)
				}
				if got, want := op.scopeHint, strings.Join(w.security[0], " "); got != want {
					t.Errorf("%s: the 403 names scope %q; want %q (the first alternative)", k, got, want)
				}
				if !slices.Equal(op.consumes, w.consumes) {
					t.Errorf("%s: consumes = %q; want %q", k, op.consumes, w.consumes)
				}
				if !slices.Equal(op.produces, w.produces) {
					t.Errorf("%s: produces = %q; want %q", k, op.produces, w.produces)
				}
				if op.bodyRequired != w.bodyRequired {
					t.Errorf("%s: body required = %v; want %v", k, op.bodyRequired, w.bodyRequired)
				}
				if (op.bodySchema != nil) != (w.consumes != nil) {
					t.Errorf("%s: body schema present = %v; want %v", k, op.bodySchema != nil, w.consumes != nil)
				}
				if op.identifier != w.identifier {
					t.Errorf("%s: identifier rule = %q; want %q", k, op.identifier, w.identifier)
				}
				// x-correlator is the only parameter CAMARA declares here,
				// and the validator leaves it to the front.
				for _, p := range op.params {
					if p.in != "header" || !strings.EqualFold(p.name, "x-correlator") {
						t.Errorf("%s: unexpected parameter %s %q", k, p.in, p.name)
					}
				}
			}
		})
	}
}

// TestCAMARAValidation calls validate on each CAMARA operation with valid
// and invalid bodies, with 2- and 3-legged tokens.
func TestCAMARAValidation(t *testing.T) {
	twoLegged := &Caller{ClientID: "app", Subject: "app", Scopes: []string{"x"}}
	threeLegged := &Caller{ClientID: "app", Subject: "tel:+34600000001", Scopes: []string{"x"}}
	const circle = `"area":{"areaType":"CIRCLE","center":{"latitude":50.7,"longitude":7.1},"radius":5000}`
	type check struct {
		name   string
		op     string // "METHOD template"
		body   string
		caller *Caller // nil: twoLegged
		// key and cause of the expected failure; "" for success.
		key, cause string
		field      string // the field member of the failure, when checked
	}
	files := map[string][]check{
		"sim-swap.yaml": {
			{name: "valid 2-legged", op: "POST /check", body: `{"phoneNumber":"+34600000001","maxAge":120}`},
			{name: "valid without maxAge", op: "POST /check", body: `{"phoneNumber":"+34600000001"}`},
			{name: "valid 3-legged", op: "POST /check", body: `{"maxAge":24}`, caller: threeLegged},
			{name: "valid retrieve-date 3-legged empty object", op: "POST /retrieve-date", body: `{}`, caller: threeLegged},
			{name: "phoneNumber pattern", op: "POST /check", body: `{"phoneNumber":"0034600000001"}`, key: "bad_request", cause: "schema_violation", field: "phoneNumber"},
			{name: "phoneNumber too short", op: "POST /retrieve-date", body: `{"phoneNumber":"+3460"}`, key: "bad_request", cause: "schema_violation", field: "phoneNumber"},
			{name: "maxAge below minimum", op: "POST /check", body: `{"phoneNumber":"+34600000001","maxAge":0}`, key: "out_of_range", cause: "value_out_of_range", field: "maxAge"},
			{name: "maxAge above maximum", op: "POST /check", body: `{"phoneNumber":"+34600000001","maxAge":2401}`, key: "out_of_range", cause: "value_out_of_range", field: "maxAge"},
			{name: "maxAge wrong type", op: "POST /check", body: `{"phoneNumber":"+34600000001","maxAge":"240"}`, key: "bad_request", cause: "schema_violation", field: "maxAge"},
			{name: "maxAge not an integer", op: "POST /check", body: `{"phoneNumber":"+34600000001","maxAge":1.5}`, key: "bad_request", cause: "schema_violation", field: "maxAge"},
			{name: "phoneNumber wrong type", op: "POST /check", body: `{"phoneNumber":34600000001}`, key: "bad_request", cause: "schema_violation", field: "phoneNumber"},
			{name: "body not an object", op: "POST /check", body: `["+34600000001"]`, key: "bad_request", cause: "schema_violation"},
			{name: "missing required body", op: "POST /check", body: ``, key: "bad_request", cause: "schema_violation"},
			{name: "malformed JSON", op: "POST /check", body: `{"phoneNumber":"+34600000001"`, key: "bad_request", cause: "malformed_body"},
			{name: "trailing garbage", op: "POST /check", body: `{"phoneNumber":"+34600000001"} x`, key: "bad_request", cause: "malformed_body"},
			{name: "2-legged without phoneNumber", op: "POST /check", body: `{"maxAge":120}`, key: "missing_identifier", cause: "identifier_missing", field: "phoneNumber"},
			{name: "3-legged with phoneNumber", op: "POST /retrieve-date", body: `{"phoneNumber":"+34600000001"}`, caller: threeLegged, key: "unnecessary_identifier", cause: "identifier_in_token", field: "phoneNumber"},
			{name: "duplicate maxAge", op: "POST /check", body: `{"phoneNumber":"+34600000001","maxAge":999,"maxAge":1}`, key: "bad_request", cause: "duplicate_key", field: "maxAge"},
			{name: "maxAge duplicates in the other order", op: "POST /check", body: `{"maxAge":1,"phoneNumber":"+34600000001","maxAge":999}`, key: "bad_request", cause: "duplicate_key", field: "maxAge"},
			{name: "maxAge spelled in capitals", op: "POST /check", body: `{"phoneNumber":"+34600000001","MAXAGE":99999}`, key: "bad_request", cause: "member_case_mismatch", field: "MAXAGE"},
			{name: "maxAge twice, in two spellings", op: "POST /check", body: `{"phoneNumber":"+34600000001","maxAge":1,"MaxAge":99999}`, key: "bad_request", cause: "member_case_mismatch", field: "MaxAge"},
			{name: "3-legged with PhoneNumber", op: "POST /check", body: `{"PhoneNumber":"+34600000002"}`, caller: threeLegged, key: "bad_request", cause: "member_case_mismatch", field: "PhoneNumber"},
			{name: "undocumented member passes", op: "POST /check", body: `{"phoneNumber":"+34600000001","note":"x"}`},
			{name: "invalid UTF-8", op: "POST /check", body: "{\"phoneNumber\":\"+3460000000\xff1\"}", key: "bad_request", cause: "malformed_body"},
		},
		"number-verification.yaml": {
			{name: "valid phoneNumber", op: "POST /verify", body: `{"phoneNumber":"+34600000001"}`, caller: threeLegged},
			{name: "valid hash", op: "POST /verify", body: `{"hashedPhoneNumber":"eb491b384e4fda4281634daa211e6e54a4cf7f82baa33a9f35980329e4ad95f3"}`, caller: threeLegged},
			{name: "no identifier rule: 2-legged passes validation", op: "POST /verify", body: `{"phoneNumber":"+34600000001"}`},
			{name: "no identifier rule: 3-legged phoneNumber allowed", op: "POST /verify", body: `{"phoneNumber":"+34600000002"}`, caller: threeLegged},
			{name: "hash pattern", op: "POST /verify", body: `{"hashedPhoneNumber":"xyz"}`, caller: threeLegged, key: "bad_request", cause: "schema_violation", field: "hashedPhoneNumber"},
			{name: "both forms", op: "POST /verify", body: `{"phoneNumber":"+34600000001","hashedPhoneNumber":"eb491b384e4fda4281634daa211e6e54a4cf7f82baa33a9f35980329e4ad95f3"}`, caller: threeLegged, key: "bad_request", cause: "schema_violation"},
			{name: "neither form", op: "POST /verify", body: `{}`, caller: threeLegged, key: "bad_request", cause: "schema_violation"},
			{name: "missing required body", op: "POST /verify", body: ``, caller: threeLegged, key: "bad_request", cause: "schema_violation"},
			{name: "malformed JSON", op: "POST /verify", body: `{"phoneNumber":`, caller: threeLegged, key: "bad_request", cause: "malformed_body"},
			{name: "GET takes no body", op: "GET /device-phone-number", body: ``, caller: threeLegged},
		},
		"location-verification.yaml": {
			{name: "valid 2-legged", op: "POST /verify", body: `{"device":{"phoneNumber":"+34600000001"},` + circle + `,"maxAge":120}`},
			{name: "valid 3-legged", op: "POST /verify", body: `{` + circle + `}`, caller: threeLegged},
			{name: "device phoneNumber pattern", op: "POST /verify", body: `{"device":{"phoneNumber":"600000001"},` + circle + `}`, key: "bad_request", cause: "schema_violation", field: "device.phoneNumber"},
			{name: "empty device", op: "POST /verify", body: `{"device":{},` + circle + `}`, key: "bad_request", cause: "schema_violation", field: "device"},
			{name: "area missing", op: "POST /verify", body: `{"device":{"phoneNumber":"+34600000001"}}`, key: "bad_request", cause: "schema_violation"},
			{name: "areaType unknown", op: "POST /verify", body: `{"device":{"phoneNumber":"+34600000001"},"area":{"areaType":"SQUARE"}}`, key: "bad_request", cause: "schema_violation", field: "area.areaType"},
			{name: "maxAge wrong type", op: "POST /verify", body: `{"device":{"phoneNumber":"+34600000001"},` + circle + `,"maxAge":"old"}`, key: "bad_request", cause: "schema_violation", field: "maxAge"},
			{name: "port out of range", op: "POST /verify", body: `{"device":{"ipv4Address":{"publicAddress":"84.125.93.10","publicPort":70000}},` + circle + `}`, key: "out_of_range", cause: "value_out_of_range", field: "device.ipv4Address.publicPort"},
			{name: "malformed JSON", op: "POST /verify", body: `{"device":}`, key: "bad_request", cause: "malformed_body"},
			{name: "missing required body", op: "POST /verify", body: ``, key: "bad_request", cause: "schema_violation"},
			{name: "2-legged without device", op: "POST /verify", body: `{` + circle + `}`, key: "missing_identifier", cause: "identifier_missing", field: "device"},
			{name: "3-legged with device", op: "POST /verify", body: `{"device":{"phoneNumber":"+34600000001"},` + circle + `}`, caller: threeLegged, key: "unnecessary_identifier", cause: "identifier_in_token", field: "device"},
			// Issue 9 §2: what the discriminator selects (Circle) is enforced,
			// and so are the formats.
			{name: "latitude 91", op: "POST /verify", body: `{"device":{"phoneNumber":"+34600000001"},"area":{"areaType":"CIRCLE","center":{"latitude":91,"longitude":7.1},"radius":5000}}`, key: "out_of_range", cause: "value_out_of_range", field: "area.center.latitude"},
			{name: "longitude -180.5", op: "POST /verify", body: `{"device":{"phoneNumber":"+34600000001"},"area":{"areaType":"CIRCLE","center":{"latitude":1,"longitude":-180.5},"radius":5000}}`, key: "out_of_range", cause: "value_out_of_range", field: "area.center.longitude"},
			{name: "missing center", op: "POST /verify", body: `{"device":{"phoneNumber":"+34600000001"},"area":{"areaType":"CIRCLE","radius":5000}}`, key: "bad_request", cause: "schema_violation", field: "area.center"},
			{name: "missing radius", op: "POST /verify", body: `{"device":{"phoneNumber":"+34600000001"},"area":{"areaType":"CIRCLE","center":{"latitude":1,"longitude":1}}}`, key: "bad_request", cause: "schema_violation", field: "area.radius"},
			{name: "radius 0", op: "POST /verify", body: `{"device":{"phoneNumber":"+34600000001"},"area":{"areaType":"CIRCLE","center":{"latitude":1,"longitude":1},"radius":0}}`, key: "out_of_range", cause: "value_out_of_range", field: "area.radius"},
			{name: "radius wrong type", op: "POST /verify", body: `{"device":{"phoneNumber":"+34600000001"},"area":{"areaType":"CIRCLE","center":{"latitude":1,"longitude":1},"radius":"5000"}}`, key: "bad_request", cause: "schema_violation", field: "area.radius"},
			{name: "center without latitude", op: "POST /verify", body: `{"device":{"phoneNumber":"+34600000001"},"area":{"areaType":"CIRCLE","center":{"longitude":1},"radius":10}}`, key: "bad_request", cause: "schema_violation", field: "area.center.latitude"},
			{name: "areaType missing", op: "POST /verify", body: `{"device":{"phoneNumber":"+34600000001"},"area":{"center":{"latitude":1,"longitude":1},"radius":10}}`, key: "bad_request", cause: "schema_violation", field: "area.areaType"},
			{name: "areaType not a string", op: "POST /verify", body: `{"device":{"phoneNumber":"+34600000001"},"area":{"areaType":1,"center":{"latitude":1,"longitude":1},"radius":10}}`, key: "bad_request", cause: "schema_violation", field: "area.areaType"},
			{name: "publicAddress 300.1.1.1", op: "POST /verify", body: `{"device":{"ipv4Address":{"publicAddress":"300.1.1.1","publicPort":59765}},` + circle + `}`, key: "bad_request", cause: "schema_violation", field: "device.ipv4Address.publicAddress"},
			{name: "privateAddress IPv6", op: "POST /verify", body: `{"device":{"ipv4Address":{"publicAddress":"84.125.93.10","privateAddress":"2001:db8::1"}},` + circle + `}`, key: "bad_request", cause: "schema_violation", field: "device.ipv4Address.privateAddress"},
			{name: "publicAddress alone", op: "POST /verify", body: `{"device":{"ipv4Address":{"publicAddress":"84.125.93.10"}},` + circle + `}`, key: "bad_request", cause: "schema_violation", field: "device.ipv4Address"},
			{name: "ipv6Address 2001:db8::zz", op: "POST /verify", body: `{"device":{"ipv6Address":"2001:db8::zz"},` + circle + `}`, key: "bad_request", cause: "schema_violation", field: "device.ipv6Address"},
			{name: "ipv6Address is IPv4", op: "POST /verify", body: `{"device":{"ipv6Address":"84.125.93.10"},` + circle + `}`, key: "bad_request", cause: "schema_violation", field: "device.ipv6Address"},
			{name: "valid IPs", op: "POST /verify", body: `{"device":{"ipv6Address":"2001:db8:85a3:8d3:1319:8a2e:370:7344","ipv4Address":{"publicAddress":"84.125.93.10","privateAddress":"10.0.0.1"}},` + circle + `}`},
			{name: "duplicate key", op: "POST /verify", body: `{"device":{"phoneNumber":"+34600000001"},` + circle + `,"maxAge":1,"maxAge":2}`, key: "bad_request", cause: "duplicate_key", field: "maxAge"},
			{name: "nested duplicate key", op: "POST /verify", body: `{"device":{"phoneNumber":"+34600000001"},"area":{"areaType":"CIRCLE","center":{"latitude":91,"longitude":7.1,"latitude":1},"radius":5000}}`, key: "bad_request", cause: "duplicate_key", field: "area.center.latitude"},
			{name: "Radius in the discriminated Circle", op: "POST /verify", body: `{"device":{"phoneNumber":"+34600000001"},"area":{"areaType":"CIRCLE","center":{"latitude":1,"longitude":1},"radius":10,"Radius":0}}`, key: "bad_request", cause: "member_case_mismatch", field: "area.Radius"},
			{name: "Latitude nested", op: "POST /verify", body: `{"device":{"phoneNumber":"+34600000001"},"area":{"areaType":"CIRCLE","center":{"latitude":1,"longitude":1,"LATITUDE":91},"radius":10}}`, key: "bad_request", cause: "member_case_mismatch", field: "area.center.LATITUDE"},
			{name: "3-legged with Device", op: "POST /verify", body: `{"Device":{"phoneNumber":"+34600000002"},` + circle + `}`, caller: threeLegged, key: "bad_request", cause: "member_case_mismatch", field: "Device"},
			{name: "escaped duplicate key", op: "POST /verify", body: `{"device":{"phoneNumber":"+34600000001","phone\u004eumber":"+34600000002"},` + circle + `}`, key: "bad_request", cause: "duplicate_key", field: "device.phoneNumber"},
		},
	}
	for file, checks := range files {
		t.Run(file, func(t *testing.T) {
			api := compileCAMARA(t, file)
			for _, c := range checks {
				t.Run(c.name, func(t *testing.T) {
					method, rel, _ := strings.Cut(c.op, " ")
					n := api.root.lookup(rel)
					if n == nil || n.ops[method] == nil {
						t.Fatalf("no operation %s", c.op)
					}
					op := n.ops[method]
					r := httptest.NewRequest(method, api.basePath+rel, strings.NewReader(c.body))
					r.Header.Set("Content-Type", "application/json")
					caller := c.caller
					if caller == nil {
						caller = twoLegged
					}
					p := validate(r, api, op, rel, []byte(c.body), caller)
					if c.key == "" {
						if p != nil {
							t.Fatalf("validate(%s) = %v; want success", c.body, p)
						}
						return
					}
					if p == nil {
						t.Fatalf("validate(%s) = nil; want %s/%s", c.body, c.key, c.cause)
					}
					if got, want := p.Entry.Key+"/"+p.CauseID, c.key+"/"+c.cause; got != want {
						t.Errorf("validate(%s) = %s (%s); want %s", c.body, got, p.Message(), want)
					}
					if c.field != "" {
						if got := p.Extra["field"]; got != c.field {
							t.Errorf("field = %v; want %q (%s)", got, c.field, p.Message())
						}
					}
					if strings.Contains(p.Message(), "+34600000001") || strings.Contains(p.Message(), "0034600000001") {
						t.Errorf("the message echoes the submitted value: %q", p.Message())
					}
				})
			}
		})
	}
}

// TestRouteLookup checks the path tree: literals beat parameters, no
// implicit trailing slash, and unknown paths miss.
func TestRouteLookup(t *testing.T) {
	root := newNode()
	add := func(method, template, id string) {
		root.insert(template, &operation{id: id, method: method, template: template})
	}
	add("GET", "/users/me", "me")
	add("GET", "/users/{id}", "user")
	add("DELETE", "/users/{id}", "deleteUser")
	add("POST", "/users/{id}/items", "addItem")
	add("GET", "/users/{id}/items/{item}", "item")
	add("POST", "/check", "check")
	cases := []struct {
		path   string
		method string
		want   string // operation id; "" when no path matches
		allow  string
	}{
		{path: "/check", method: "POST", want: "check", allow: "POST"},
		{path: "/users/me", method: "GET", want: "me", allow: "GET, HEAD"},
		{path: "/users/42", method: "GET", want: "user", allow: "GET, HEAD, DELETE"},
		{path: "/users/42", method: "DELETE", want: "deleteUser", allow: "GET, HEAD, DELETE"},
		{path: "/users/42/items", method: "POST", want: "addItem", allow: "POST"},
		{path: "/users/42/items/7", method: "GET", want: "item", allow: "GET, HEAD"},
		// A literal that leads nowhere must not hide the template that
		// matches (OpenAPI: concrete paths first, then templated ones).
		{path: "/users/me/items", method: "POST", want: "addItem", allow: "POST"},
		{path: "/users/me/items/7", method: "GET", want: "item", allow: "GET, HEAD"},
		{path: "/check/", want: ""},
		{path: "/users/42/", want: ""},
		{path: "/users/", want: ""},
		{path: "/users", want: ""},
		{path: "//check", want: ""},
		{path: "/chec", want: ""},
		{path: "/check/extra", want: ""},
		{path: "", want: ""},
		{path: "/", want: ""},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			n := root.lookup(tc.path)
			if tc.want == "" {
				if n != nil {
					t.Fatalf("lookup(%q) matched %s; want no match", tc.path, n.allow)
				}
				return
			}
			if n == nil {
				t.Fatalf("lookup(%q) = nil; want %s", tc.path, tc.want)
			}
			op := n.ops[tc.method]
			if op == nil || op.id != tc.want {
				t.Fatalf("lookup(%q)[%s] = %v; want %s", tc.path, tc.method, op, tc.want)
			}
			if n.allow != tc.allow {
				t.Errorf("Allow = %q; want %q", n.allow, tc.allow)
			}
		})
	}
}

// TestRouteTableMatch checks which API a path belongs to: the longest base
// path wins, and a base path matches whole segments only.
func TestRouteTableMatch(t *testing.T) {
	mk := func(base string) *compiledAPI {
		return &compiledAPI{rec: &store.API{Name: base}, basePath: base, root: newNode()}
	}
	table := newRouteTable([]*compiledAPI{mk("/a"), mk("/a/b/v1"), mk("/sim-swap/v2")})
	cases := []struct {
		path, base, rel string
	}{
		{"/sim-swap/v2/check", "/sim-swap/v2", "/check"},
		{"/sim-swap/v2", "/sim-swap/v2", ""},
		{"/sim-swap/v2/", "/sim-swap/v2", "/"},
		{"/sim-swap/v20/check", "", ""},
		{"/sim-swap/v2x", "", ""},
		{"/a/b/v1/x", "/a/b/v1", "/x"},
		{"/a/b/v2/x", "/a", "/b/v2/x"},
		{"/ab", "", ""},
		{"/", "", ""},
	}
	for _, tc := range cases {
		a, rel := table.match(tc.path)
		got := ""
		if a != nil {
			got = a.basePath
		}
		if got != tc.base || rel != tc.rel {
			t.Errorf("match(%q) = %q, %q; want %q, %q", tc.path, got, rel, tc.base, tc.rel)
		}
	}
}

// TestUpstreamCircuit checks the breaker through an HTTP upstream: refused
// connections are 502 connection_refused until the circuit opens, then 503
// circuit_open with the remaining time as Retry-After, without dialing.
func TestUpstreamCircuit(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connections are refused

	clock := testclock.New(time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC))
	g := New(Config{APIs: nopSource{}, Tokens: nopTokens{}, Now: clock.Now, BreakerFailures: 2, BreakerOpenFor: 30 * time.Second, UpstreamTimeout: 5 * time.Second})
	g.jitter = nil // exact pauses
	u, err := g.newHTTPUpstream("http://"+addr+"/base", store.UpstreamOptions{}, "x")
	if err != nil {
		t.Fatal(err)
	}
	call := func() *problem.Error {
		r := httptest.NewRequest(http.MethodPost, "/x/v1/check", strings.NewReader(`{}`))
		r = r.WithContext(problem.WithCorrelator(context.Background(), "c-1"))
		return u.forward(httptest.NewRecorder(), r, "/check", []byte(`{}`), &Caller{ClientID: "app", Subject: "app"}, false)
	}
	for i := range 2 {
		p := call()
		if p == nil || p.Entry.Key != "bad_gateway" || p.CauseID != "connection_refused" {
			t.Fatalf("call %d = %v; want bad_gateway/connection_refused", i+1, p)
		}
		if !errors.Is(p, syscall.ECONNREFUSED) {
			t.Errorf("call %d: the logged error %v is not ECONNREFUSED", i+1, p.Err)
		}
	}
	clock.Advance(12 * time.Second)
	p := call()
	if p == nil || p.Entry.Key != "unavailable" || p.CauseID != "circuit_open" {
		t.Fatalf("after 2 failures = %v; want unavailable/circuit_open", p)
	}
	if got, want := p.RetryAfter, 18*time.Second; got != want {
		t.Errorf("RetryAfter = %v; want %v (the time left open)", got, want)
	}
	rec := httptest.NewRecorder()
	(&problem.Renderer{Logger: slog.New(slog.DiscardHandler)}).API(rec, httptest.NewRequest(http.MethodPost, "/x/v1/check", nil), p)
	if got, want := rec.Header().Get("Retry-After"), "18"; got != want {
		t.Errorf("Retry-After header = %q; want %q", got, want)
	}
	if got, want := rec.Code, http.StatusServiceUnavailable; got != want {
		t.Errorf("status = %d; want %d", got, want)
	}
	clock.Advance(18 * time.Second)
	if p := call(); p == nil || p.CauseID != "connection_refused" {
		t.Fatalf("half-open trial = %v; want it to reach the upstream (connection_refused)", p)
	}
	if p := call(); p == nil || p.CauseID != "circuit_open" || p.RetryAfter != 30*time.Second {
		t.Fatalf("after the failed trial = %v; want circuit_open for the full 30s", p)
	}
}

// nopSource and nopTokens satisfy Config for tests that never route.
type nopSource struct{}

func (nopSource) ListAPIs(context.Context) ([]*store.API, error) { return nil, nil }
func (nopSource) APIsGeneration(context.Context) (int64, error)  { return 0, nil }

type nopTokens struct{}

func (nopTokens) VerifyBearer(string) (Caller, *problem.Error) {
	return Caller{}, problem.New(problem.InvalidTokenMalformed, "")
}
