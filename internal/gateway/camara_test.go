package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"gatehouse/internal/gateway"
	"gatehouse/internal/testcamara"
	"gatehouse/internal/testhttp"
)

// TestCAMARAValidationEndToEnd imports each of the three CAMARA files (see
// testcamara for where they are found) against a recording upstream and
// sends, over HTTP, a valid request per operation (which must reach the
// upstream, byte for byte) and a table of invalid ones: each must be
// answered with the documented status, CAMARA code, cause and field, and
// none may reach the upstream (issue 9 §2).
func TestCAMARAValidationEndToEnd(t *testing.T) {
	t.Parallel()
	docs := map[string][]byte{ // API name → document; skips without the shared test data
		"camara-sim-swap":              testcamara.Read(t, "sim-swap.yaml"),
		"camara-number-verification":   testcamara.Read(t, "number-verification.yaml"),
		"camara-location-verification": testcamara.Read(t, "location-verification.yaml"),
	}
	rec := testhttp.NewRecorder(t)

	h := newHarness(t, nil)
	for name, doc := range docs {
		h.importAPI(string(doc), gateway.ImportOptions{Upstream: rec.URL, Name: name, BasePath: "/" + name})
	}
	app := h.createClient("camara app",
		"sim-swap:check", "sim-swap:retrieve-date", "number-verification:verify", "number-verification:device-phone-number:read", "location-verification:verify")
	h.subscribeUnmetered(app, "camara-sim-swap", "camara-number-verification", "camara-location-verification")
	const (
		ss = "/camara-sim-swap"
		nv = "/camara-number-verification"
		lv = "/camara-location-verification"
	)
	m := h.minter()
	twoLegged := func(scope string) string { return m.sign("at+jwt", m.claims(app.ID, scope)) }
	threeLegged := func(scope string) string {
		return m.sign("at+jwt", with(m.claims(app.ID, scope), "sub", "tel:+34600000001"))
	}
	ssTok, ssDateTok := twoLegged("sim-swap:check"), twoLegged("sim-swap:retrieve-date")
	ssTok3 := threeLegged("sim-swap:check")
	nvTok, nvShareTok := threeLegged("number-verification:verify"), threeLegged("number-verification:device-phone-number:read")
	lvTok, lvTok3 := twoLegged("location-verification:verify"), threeLegged("location-verification:verify")
	for path, tok := range map[string]string{ss + "/check": ssTok, nv + "/verify": nvTok, lv + "/verify": lvTok} {
		if resp, b := h.send(t, testhttp.Request{Path: path, Token: tok, Body: `[]`}); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s with a body that is no object: %d %s; want 400", path, resp.StatusCode, b)
		}
	}
	if n := len(rec.Requests()); n != 0 {
		t.Fatalf("the upstream was reached %d times by requests refused", n)
	}

	const (
		phone  = `"phoneNumber":"+34600000001"`
		circle = `"area":{"areaType":"CIRCLE","center":{"latitude":50.735851,"longitude":7.10066},"radius":50000}`
		dev    = `"device":{"phoneNumber":"+34600000001"}`
		hash   = `"hashedPhoneNumber":"32f67ab4e4312618b09cd23ed8ce41b13e095fe52b73b2e8da8ef49830e50dba"`
	)
	area := func(center, rest string) string {
		return `{` + dev + `,"area":{"areaType":"CIRCLE","center":` + center + rest + `}}`
	}
	valid := []testhttp.Request{
		{Path: ss + "/check", Token: ssTok, Body: `{` + phone + `,"maxAge":240}`},
		{Path: ss + "/check", Token: ssTok3, Body: `{"maxAge":24}`},
		{Path: ss + "/retrieve-date", Token: ssDateTok, Body: `{` + phone + `}`},
		{Path: nv + "/verify", Token: nvTok, Body: `{` + phone + `}`},
		{Path: nv + "/verify", Token: nvTok, Body: `{` + hash + `}`},
		{Method: http.MethodGet, Path: nv + "/device-phone-number", Token: nvShareTok},
		{Path: lv + "/verify", Token: lvTok, Body: `{` + dev + `,` + circle + `,"maxAge":120}`},
		{Path: lv + "/verify", Token: lvTok, Body: `{"device":{"ipv4Address":{"publicAddress":"84.125.93.10","publicPort":59765},"ipv6Address":"2001:db8:85a3:8d3:1319:8a2e:370:7344"},` + circle + `}`},
		{Path: lv + "/verify", Token: lvTok3, Body: `{` + circle + `}`},
	}
	for _, req := range valid {
		before := len(rec.Requests())
		resp, b := h.send(t, req)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("valid %s %s: %d %s", req.Method, req.Body, resp.StatusCode, b)
			continue
		}
		seen := rec.Requests()
		if len(seen) != before+1 {
			t.Errorf("valid %s: the upstream saw %d requests; want 1", req.Body, len(seen)-before)
			continue
		}
		if got := seen[len(seen)-1]; !strings.HasSuffix(got, " "+req.Body) {
			t.Errorf("the upstream received %q; want the body as sent, %s", got, req.Body)
		}
	}

	cases := []struct {
		name   string
		req    testhttp.Request
		status int
		code   string // CAMARA code
		cause  string
		field  string // "" when the answer names no field
	}{
		// SIM Swap
		{"ss duplicate maxAge (last would pass)", testhttp.Request{Path: ss + "/check", Token: ssTok, Body: `{` + phone + `,"maxAge":9999,"maxAge":1}`}, 400, "INVALID_ARGUMENT", "duplicate_key", "maxAge"},
		{"ss duplicate maxAge (first would pass)", testhttp.Request{Path: ss + "/check", Token: ssTok, Body: `{` + phone + `,"maxAge":1,"maxAge":9999}`}, 400, "INVALID_ARGUMENT", "duplicate_key", "maxAge"},
		{"ss duplicate phoneNumber, escaped", testhttp.Request{Path: ss + "/check", Token: ssTok, Body: `{` + phone + `,"phone\u004eumber":"+34600000002"}`}, 400, "INVALID_ARGUMENT", "duplicate_key", "phoneNumber"},
		{"ss MAXAGE (a Go upstream reads it as maxAge)", testhttp.Request{Path: ss + "/check", Token: ssTok, Body: `{` + phone + `,"MAXAGE":99999}`}, 400, "INVALID_ARGUMENT", "member_case_mismatch", "MAXAGE"},
		{"ss 3-legged with PhoneNumber of another line", testhttp.Request{Path: ss + "/check", Token: ssTok3, Body: `{"PhoneNumber":"+34600000002"}`}, 400, "INVALID_ARGUMENT", "member_case_mismatch", "PhoneNumber"},
		{"ss invalid UTF-8", testhttp.Request{Path: ss + "/check", Token: ssTok, Body: "{\"phoneNumber\":\"+3460000000\xff1\"}"}, 400, "INVALID_ARGUMENT", "malformed_body", ""},
		{"ss phoneNumber pattern", testhttp.Request{Path: ss + "/check", Token: ssTok, Body: `{"phoneNumber":"0034600000001"}`}, 400, "INVALID_ARGUMENT", "schema_violation", "phoneNumber"},
		{"ss phoneNumber wrong type", testhttp.Request{Path: ss + "/check", Token: ssTok, Body: `{"phoneNumber":34600000001}`}, 400, "INVALID_ARGUMENT", "schema_violation", "phoneNumber"},
		{"ss maxAge above maximum", testhttp.Request{Path: ss + "/check", Token: ssTok, Body: `{` + phone + `,"maxAge":2401}`}, 400, "OUT_OF_RANGE", "value_out_of_range", "maxAge"},
		{"ss maxAge below minimum", testhttp.Request{Path: ss + "/check", Token: ssTok, Body: `{` + phone + `,"maxAge":0}`}, 400, "OUT_OF_RANGE", "value_out_of_range", "maxAge"},
		{"ss maxAge wrong type", testhttp.Request{Path: ss + "/check", Token: ssTok, Body: `{` + phone + `,"maxAge":"240"}`}, 400, "INVALID_ARGUMENT", "schema_violation", "maxAge"},
		{"ss malformed JSON", testhttp.Request{Path: ss + "/check", Token: ssTok, Body: `{` + phone}, 400, "INVALID_ARGUMENT", "malformed_body", ""},
		{"ss missing body", testhttp.Request{Path: ss + "/check", Token: ssTok}, 400, "INVALID_ARGUMENT", "schema_violation", ""},
		{"ss 2-legged without phoneNumber", testhttp.Request{Path: ss + "/check", Token: ssTok, Body: `{"maxAge":240}`}, 422, "MISSING_IDENTIFIER", "identifier_missing", "phoneNumber"},
		{"ss 3-legged with phoneNumber", testhttp.Request{Path: ss + "/check", Token: ssTok3, Body: `{` + phone + `}`}, 422, "UNNECESSARY_IDENTIFIER", "identifier_in_token", "phoneNumber"},
		{"ss retrieve-date phoneNumber pattern", testhttp.Request{Path: ss + "/retrieve-date", Token: ssDateTok, Body: `{"phoneNumber":"+0"}`}, 400, "INVALID_ARGUMENT", "schema_violation", "phoneNumber"},
		{"ss retrieve-date nested duplicate", testhttp.Request{Path: ss + "/retrieve-date", Token: ssDateTok, Body: `{` + phone + `,"x":{"a":[{"b":1,"b":2}]}}`}, 400, "INVALID_ARGUMENT", "duplicate_key", "x.a.0.b"},
		{"ss retrieve-date 2-legged without phoneNumber", testhttp.Request{Path: ss + "/retrieve-date", Token: ssDateTok, Body: `{}`}, 422, "MISSING_IDENTIFIER", "identifier_missing", "phoneNumber"},

		// Number Verification
		{"nv phoneNumber pattern", testhttp.Request{Path: nv + "/verify", Token: nvTok, Body: `{"phoneNumber":"+34 600 000 001"}`}, 400, "INVALID_ARGUMENT", "schema_violation", "phoneNumber"},
		{"nv hash pattern", testhttp.Request{Path: nv + "/verify", Token: nvTok, Body: `{"hashedPhoneNumber":"XYZ"}`}, 400, "INVALID_ARGUMENT", "schema_violation", "hashedPhoneNumber"},
		{"nv both forms", testhttp.Request{Path: nv + "/verify", Token: nvTok, Body: `{` + phone + `,` + hash + `}`}, 400, "INVALID_ARGUMENT", "schema_violation", ""},
		{"nv neither form", testhttp.Request{Path: nv + "/verify", Token: nvTok, Body: `{}`}, 400, "INVALID_ARGUMENT", "schema_violation", ""},
		{"nv duplicate phoneNumber", testhttp.Request{Path: nv + "/verify", Token: nvTok, Body: `{"phoneNumber":"+34600000009",` + phone + `}`}, 400, "INVALID_ARGUMENT", "duplicate_key", "phoneNumber"},
		{"nv not an object", testhttp.Request{Path: nv + "/verify", Token: nvTok, Body: `"+34600000001"`}, 400, "INVALID_ARGUMENT", "schema_violation", ""},

		// Location Verification: the five cases of issue 9 §2 first.
		{"lv latitude 91", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: area(`{"latitude":91,"longitude":7.1}`, `,"radius":5000`)}, 400, "OUT_OF_RANGE", "value_out_of_range", "area.center.latitude"},
		{"lv missing center", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: `{` + dev + `,"area":{"areaType":"CIRCLE","radius":5000}}`}, 400, "INVALID_ARGUMENT", "schema_violation", "area.center"},
		{"lv radius 0", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: area(`{"latitude":50,"longitude":7}`, `,"radius":0`)}, 400, "OUT_OF_RANGE", "value_out_of_range", "area.radius"},
		{"lv publicAddress 300.1.1.1", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: `{"device":{"ipv4Address":{"publicAddress":"300.1.1.1","publicPort":59765}},` + circle + `}`}, 400, "INVALID_ARGUMENT", "schema_violation", "device.ipv4Address.publicAddress"},
		{"lv ipv6Address 2001:db8::zz", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: `{"device":{"ipv6Address":"2001:db8::zz"},` + circle + `}`}, 400, "INVALID_ARGUMENT", "schema_violation", "device.ipv6Address"},
		{"lv longitude 181", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: area(`{"latitude":50,"longitude":181}`, `,"radius":5000`)}, 400, "OUT_OF_RANGE", "value_out_of_range", "area.center.longitude"},
		{"lv missing radius", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: area(`{"latitude":50,"longitude":7}`, ``)}, 400, "INVALID_ARGUMENT", "schema_violation", "area.radius"},
		{"lv center without longitude", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: area(`{"latitude":50}`, `,"radius":5000`)}, 400, "INVALID_ARGUMENT", "schema_violation", "area.center.longitude"},
		{"lv latitude wrong type", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: area(`{"latitude":"50","longitude":7}`, `,"radius":5000`)}, 400, "INVALID_ARGUMENT", "schema_violation", "area.center.latitude"},
		{"lv CIRCLE with polygon fields and no center", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: `{` + dev + `,"area":{"areaType":"CIRCLE","boundary":[{"latitude":1,"longitude":1},{"latitude":2,"longitude":2},{"latitude":1,"longitude":3}]}}`}, 400, "INVALID_ARGUMENT", "schema_violation", "area.center"},
		{"lv unknown areaType", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: `{` + dev + `,"area":{"areaType":"POLYGON","boundary":[]}}`}, 400, "INVALID_ARGUMENT", "schema_violation", "area.areaType"},
		{"lv areaType missing", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: `{` + dev + `,"area":{"center":{"latitude":1,"longitude":1},"radius":10}}`}, 400, "INVALID_ARGUMENT", "schema_violation", "area.areaType"},
		{"lv area missing", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: `{` + dev + `}`}, 400, "INVALID_ARGUMENT", "schema_violation", "area"},
		{"lv area wrong type", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: `{` + dev + `,"area":"CIRCLE"}`}, 400, "INVALID_ARGUMENT", "schema_violation", "area"},
		{"lv device phoneNumber pattern", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: `{"device":{"phoneNumber":"600000001"},` + circle + `}`}, 400, "INVALID_ARGUMENT", "schema_violation", "device.phoneNumber"},
		{"lv empty device", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: `{"device":{},` + circle + `}`}, 400, "INVALID_ARGUMENT", "schema_violation", "device"},
		{"lv publicAddress without port or private address", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: `{"device":{"ipv4Address":{"publicAddress":"84.125.93.10"}},` + circle + `}`}, 400, "INVALID_ARGUMENT", "schema_violation", "device.ipv4Address"},
		{"lv privateAddress is IPv6", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: `{"device":{"ipv4Address":{"publicAddress":"84.125.93.10","privateAddress":"::1"}},` + circle + `}`}, 400, "INVALID_ARGUMENT", "schema_violation", "device.ipv4Address.privateAddress"},
		{"lv publicPort out of range", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: `{"device":{"ipv4Address":{"publicAddress":"84.125.93.10","publicPort":65536}},` + circle + `}`}, 400, "OUT_OF_RANGE", "value_out_of_range", "device.ipv4Address.publicPort"},
		{"lv ipv6Address is IPv4", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: `{"device":{"ipv6Address":"84.125.93.10"},` + circle + `}`}, 400, "INVALID_ARGUMENT", "schema_violation", "device.ipv6Address"},
		{"lv maxAge wrong type", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: `{` + dev + `,` + circle + `,"maxAge":"120"}`}, 400, "INVALID_ARGUMENT", "schema_violation", "maxAge"},
		{"lv duplicate radius (last would pass)", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: area(`{"latitude":50,"longitude":7}`, `,"radius":0,"radius":5000`)}, 400, "INVALID_ARGUMENT", "duplicate_key", "area.radius"},
		{"lv duplicate latitude, nested", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: area(`{"latitude":91,"longitude":7,"latitude":50}`, `,"radius":5000`)}, 400, "INVALID_ARGUMENT", "duplicate_key", "area.center.latitude"},
		{"lv duplicate device", testhttp.Request{Path: lv + "/verify", Token: lvTok3, Body: `{"device":{"phoneNumber":"+34600000002"},` + circle + `,"device":{"phoneNumber":"+34600000003"}}`}, 400, "INVALID_ARGUMENT", "duplicate_key", "device"},
		{"lv Radius beside radius", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: area(`{"latitude":50,"longitude":7}`, `,"radius":5000,"Radius":0`)}, 400, "INVALID_ARGUMENT", "member_case_mismatch", "area.Radius"},
		{"lv 2-legged without device", testhttp.Request{Path: lv + "/verify", Token: lvTok, Body: `{` + circle + `}`}, 422, "MISSING_IDENTIFIER", "identifier_missing", "device"},
		{"lv 3-legged with device", testhttp.Request{Path: lv + "/verify", Token: lvTok3, Body: `{` + dev + `,` + circle + `}`}, 422, "UNNECESSARY_IDENTIFIER", "identifier_in_token", "device"},
	}
	before := rec.Requests()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, b := h.send(t, c.req)
			var got struct {
				testhttp.GatewayError
				Field *string `json:"field"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%d %s: %v", resp.StatusCode, b, err)
			}
			if resp.StatusCode != c.status || got.Code != c.code || got.Cause == nil || got.Cause.ID != c.cause {
				t.Fatalf("%s → %d %s; want %d %s/%s", c.req.Body, resp.StatusCode, b, c.status, c.code, c.cause)
			}
			if c.field != "" && (got.Field == nil || *got.Field != c.field) {
				t.Errorf("field = %v; want %q (%s)", got.Field, c.field, got.Detail)
			}
			if got.Correlator == "" {
				t.Errorf("no correlator: %s", b)
			}
		})
	}
	if after := rec.Requests(); len(after) != len(before) {
		t.Errorf("invalid requests reached the upstream:\n%s", strings.Join(after[len(before):], "\n"))
	}
}
