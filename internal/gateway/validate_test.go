package gateway

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"gatehouse/internal/store"
	"gatehouse/internal/testcamara"
)

// TestDuplicateKey checks the duplicate-member scan on valid JSON: names at
// any depth, after unescaping, in objects past the linear-scan size, and
// never confused by strings that look like members.
func TestDuplicateKey(t *testing.T) {
	many := func(n int, dup bool) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			fmt.Fprintf(&b, `"k%d":%d,`, i, i)
		}
		if dup {
			b.WriteString(`"k7":0,`)
		}
		b.WriteString(`"end":true}`)
		return b.String()
	}
	cases := []struct {
		body string
		want string // "" means no duplicate
	}{
		{`{"n":999,"n":1}`, "n"},
		{`{"n":1,"m":{"n":2}}`, ""},
		{`{"a":{"b":{"c":1,"c":2}}}`, "a.b.c"},
		{`{"a":[{"x":1},{"x":1,"y":2,"x":3}]}`, "a.1.x"},
		{`[{"x":1},{"x":2}]`, ""},
		{`[1,[2,{"q":1,"q":2}]]`, "1.1.q"},
		{`{"n\u0061me":1,"name":2}`, "name"},
		{`{"a\"b":1,"a\"b":2}`, `a"b`},
		{`{"s":"\"n\":1,\"n\":2","n":1}`, ""},
		{`{"s":"{\"a\":1,\"a\":2}"}`, ""},
		{`{"a":1} `, ""},
		{` { "a" : 1 , "a" : 2 } `, "a"},
		{`{"":1,"":2}`, `""`},
		{`{"a":{},"b":{},"a":[]}`, "a"},
		{`"just a string"`, ""},
		{`12`, ""},
		{many(40, false), ""},
		{many(40, true), "k7"},
		{many(16, true), "k7"},
	}
	for _, c := range cases {
		if !json.Valid([]byte(c.body)) {
			t.Fatalf("test body is not valid JSON: %s", c.body)
		}
		got, dup := duplicateKey([]byte(c.body))
		if dup && got == "" {
			got = `""` // the empty name
		}
		if dup != (c.want != "") || got != c.want {
			t.Errorf("duplicateKey(%s) = %q, %v; want %q", c.body, got, dup, c.want)
		}
	}
}

// formatsAPI has one operation whose body uses every string format the
// gateway enforces, a discriminator with an implicit mapping, and
// polymorphism inside arrays.
const formatsAPI = `openapi: 3.0.3
info: {title: Formats, version: "1"}
servers: [{url: /formats/v1}]
paths:
  /things:
    post:
      parameters:
        - {in: query, name: since, schema: {type: string, format: date-time}}
        - {in: header, name: x-origin, schema: {type: string, format: ipv4}}
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Thing"}
      responses:
        "200": {description: ok}
components:
  schemas:
    Thing:
      type: object
      properties:
        when: {type: string, format: date-time}
        day: {type: string, format: date}
        mail: {type: string, format: email}
        link: {type: string, format: uri}
        id: {type: string, format: uuid}
        host: {type: string, format: hostname}
        v4: {type: string, format: ipv4}
        v6: {type: string, format: ipv6}
        shapes:
          type: array
          items: {$ref: "#/components/schemas/Shape"}
        pet:
          oneOf:
            - $ref: "#/components/schemas/Cat"
            - $ref: "#/components/schemas/Dog"
          discriminator:
            propertyName: kind
            mapping: {cat: "#/components/schemas/Cat", dog: "#/components/schemas/Dog"}
    Shape:
      type: object
      required: [kind]
      properties:
        kind: {type: string}
      discriminator:
        propertyName: kind
    Square:
      allOf:
        - $ref: "#/components/schemas/Shape"
        - type: object
          required: [side]
          properties:
            side: {type: number, exclusiveMinimum: true, minimum: 0}
    Ring:
      allOf:
        - $ref: "#/components/schemas/Shape"
        - type: object
          required: [inner, outer]
          properties:
            inner: {type: number, minimum: 0}
            outer: {type: number, maximum: 100}
    Nest:
      allOf:
        - $ref: "#/components/schemas/Shape"
        - type: object
          required: [inside]
          properties:
            inside: {$ref: "#/components/schemas/Shape"}
    Cat:
      type: object
      required: [kind, lives]
      properties:
        kind: {type: string}
        lives: {type: integer, minimum: 1, maximum: 9}
    Dog:
      type: object
      required: [kind, good]
      properties:
        kind: {type: string}
        good: {type: boolean}
`

// TestFormatsAndPolymorphism checks every enforced format and the
// discriminator rules on a document written for them.
func TestFormatsAndPolymorphism(t *testing.T) { testFormatsAndPolymorphism(t, formatsAPI) }

func testFormatsAndPolymorphism(t *testing.T, doc string) {
	g := New(Config{APIs: nopSource{}, Tokens: nopTokens{}})
	api, err := g.compile(&store.API{Name: "formats", BasePath: "/formats/v1", Status: store.APILive,
		UpstreamURL: "http://127.0.0.1:9", Document: []byte(doc)}, map[string]*httpUpstream{})
	if err != nil {
		t.Fatal(err)
	}
	op := api.root.lookup("/things").ops["POST"]
	cases := []struct {
		query, header string // the since query parameter and x-origin header, when set
		body          string
		key, cause    string // "" for success
		field         string
	}{
		{query: "since=2024-05-01T10:00:00Z", header: "10.1.2.3", body: `{}`},
		{query: "since=2024-05-01", body: `{}`, key: "bad_request", cause: "invalid_parameter", field: "since"},
		{query: "since=2024-05-01T10:00:00Z&since=yesterday", body: `{}`, key: "bad_request", cause: "invalid_parameter", field: "since"},
		{header: "10.1.2.300", body: `{}`, key: "bad_request", cause: "invalid_parameter", field: "x-origin"},
		{header: "10.1.2.3\n10.1.2.4", body: `{}`, key: "bad_request", cause: "invalid_parameter", field: "x-origin"},
		{body: `{"when":"2024-05-01T10:00:00Z","day":"2024-05-01","mail":"dev@example.com","link":"https://example.com/a?b=c",` +
			`"id":"123e4567-e89b-12d3-a456-426614174000","host":"api.example.com","v4":"10.0.0.1","v6":"::1",` +
			`"shapes":[{"kind":"Square","side":2},{"kind":"Ring","inner":1,"outer":2}],"pet":{"kind":"cat","lives":3}}`},
		{body: `{"when":"2024-05-01T10:00:00.123+02:00"}`},
		{body: `{"when":"2016-12-31T23:59:60Z"}`},
		{body: `{"when":"2016-12-31T23:59:61Z"}`, key: "bad_request", cause: "schema_violation", field: "when"},
		{body: `{"when":"2024-05-01 10:00:00"}`, key: "bad_request", cause: "schema_violation", field: "when"},
		{body: `{"when":"2024-05-01T10:00:00"}`, key: "bad_request", cause: "schema_violation", field: "when"},
		{body: `{"when":"2024-13-01T10:00:00Z"}`, key: "bad_request", cause: "schema_violation", field: "when"},
		{body: `{"when":"2024-02-30T10:00:00Z"}`, key: "bad_request", cause: "schema_violation", field: "when"},
		{body: `{"day":"2024-5-1"}`, key: "bad_request", cause: "schema_violation", field: "day"},
		{body: `{"mail":"not-an-address"}`, key: "bad_request", cause: "schema_violation", field: "mail"},
		{body: `{"mail":"Dev <dev@example.com>"}`, key: "bad_request", cause: "schema_violation", field: "mail"},
		{body: `{"link":"/relative/path"}`, key: "bad_request", cause: "schema_violation", field: "link"},
		{body: `{"link":"https://exa mple.com"}`, key: "bad_request", cause: "schema_violation", field: "link"},
		{body: `{"id":"123e4567e89b12d3a456426614174000"}`, key: "bad_request", cause: "schema_violation", field: "id"},
		{body: `{"host":"-bad-.example.com"}`, key: "bad_request", cause: "schema_violation", field: "host"},
		{body: `{"v4":"1.2.3"}`, key: "bad_request", cause: "schema_violation", field: "v4"},
		{body: `{"v4":"01.2.3.4"}`, key: "bad_request", cause: "schema_violation", field: "v4"},
		{body: `{"v6":"fe80::1%eth0"}`, key: "bad_request", cause: "schema_violation", field: "v6"},
		{body: `{"shapes":[{"kind":"Square","side":0}]}`, key: "out_of_range", cause: "value_out_of_range", field: "shapes.0.side"},
		{body: `{"shapes":[{"kind":"Square","side":1},{"kind":"Ring","inner":1}]}`, key: "bad_request", cause: "schema_violation", field: "shapes.1.outer"},
		{body: `{"shapes":[{"kind":"Ring","inner":1,"outer":101}]}`, key: "out_of_range", cause: "value_out_of_range", field: "shapes.0.outer"},
		{body: `{"shapes":[{"kind":"Triangle"}]}`, key: "bad_request", cause: "schema_violation", field: "shapes.0.kind"},
		{body: `{"shapes":[{"kind":"Thing"}]}`, key: "bad_request", cause: "schema_violation", field: "shapes.0.kind"},
		{body: `{"shapes":[{"side":1}]}`, key: "bad_request", cause: "schema_violation", field: "shapes.0.kind"},
		{body: `{"pet":{"kind":"cat","lives":10}}`, key: "out_of_range", cause: "value_out_of_range", field: "pet.lives"},
		{body: `{"pet":{"kind":"dog"}}`, key: "bad_request", cause: "schema_violation", field: "pet.good"},
		{body: `{"pet":{"kind":"cow"}}`, key: "bad_request", cause: "schema_violation", field: "pet.kind"},
		{body: `{"pet":{"lives":1}}`, key: "bad_request", cause: "schema_violation", field: "pet.kind"},
		{body: `{"pet":{"kind":"cat","lives":1,"lives":99}}`, key: "bad_request", cause: "duplicate_key", field: "pet.lives"},
		{body: `{"shapes":[{"kind":"Nest","inside":{"kind":"Nest","inside":{"kind":"Square","side":1}}}]}`},
		{body: `{"shapes":[{"kind":"Nest","inside":{"kind":"Nest","inside":{"kind":"Square","side":0}}}]}`, key: "out_of_range", cause: "value_out_of_range", field: "shapes.0.inside.inside.side"},
		{body: `{"shapes":[{"kind":"Nest","inside":{"kind":"Circle"}}]}`, key: "bad_request", cause: "schema_violation", field: "shapes.0.inside.kind"},
		{body: `{"pet":{"kind":"cat","lives":1,"Lives":99}}`, key: "bad_request", cause: "member_case_mismatch", field: "pet.Lives"},
		{body: `{"shapes":[{"kind":"Square","side":1},{"kind":"Square","side":1,"SIDE":0}]}`, key: "bad_request", cause: "member_case_mismatch", field: "shapes.1.SIDE"},
		{body: `{"When":"yesterday"}`, key: "bad_request", cause: "member_case_mismatch", field: "When"},
	}
	caller := &Caller{ClientID: "app", Subject: "app"}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "/formats/v1/things?"+c.query, nil)
		for _, h := range strings.Split(c.header, "\n") {
			if h != "" {
				r.Header.Add("X-Origin", h)
			}
		}
		p := validate(r, api, op, "/things", []byte(c.body), caller)
		if c.key == "" {
			if p != nil {
				t.Errorf("validate(%s %s %s) = %v; want success", c.query, c.header, c.body, p.Message())
			}
			continue
		}
		if p == nil {
			t.Errorf("validate(%s %s %s) = nil; want %s/%s", c.query, c.header, c.body, c.key, c.cause)
			continue
		}
		if got, want := p.Entry.Key+"/"+p.CauseID+" "+fmt.Sprint(p.Extra["field"]), c.key+"/"+c.cause+" "+c.field; got != want {
			t.Errorf("validate(%s %s %s) = %s (%s); want %s", c.query, c.header, c.body, got, p.Message(), want)
		}
	}
}

// TestFormatsAndPolymorphism31 runs the same checks on the document as
// OpenAPI 3.1, which kin-openapi validates with its JSON Schema 2020-12
// validator.
func TestFormatsAndPolymorphism31(t *testing.T) {
	doc := strings.Replace(formatsAPI, "openapi: 3.0.3", "openapi: 3.1.0", 1)
	doc = strings.Replace(doc, "exclusiveMinimum: true, minimum: 0", "exclusiveMinimum: 0", 1)
	testFormatsAndPolymorphism(t, doc)
}

// TestRequiredAlternativesMessage checks that an anyOf of required lists
// (CAMARA's DeviceIpv4Addr) is explained by what to send, not as "doesn't
// match any schema".
func TestRequiredAlternativesMessage(t *testing.T) {
	api := compileCAMARA(t, "location-verification.yaml")
	op := api.root.lookup("/verify").ops["POST"]
	body := `{"device":{"ipv4Address":{"publicAddress":"84.125.93.10"}},"area":{"areaType":"CIRCLE","center":{"latitude":1,"longitude":1},"radius":10}}`
	p := validate(httptest.NewRequest("POST", "/verify", nil), api, op, "/verify", []byte(body), &Caller{ClientID: "a", Subject: "a"})
	if p == nil {
		t.Fatal("validate = nil; want schema_violation")
	}
	if got, want := p.Message(), "device.ipv4Address: send publicAddress with privateAddress, or publicAddress with publicPort."; got != want {
		t.Errorf("message = %q; want %q", got, want)
	}
}

// TestUnenforcedFormatsAreLogged checks that loading an API whose request
// schema uses a format the gateway cannot check says so in the log, and
// that the three CAMARA documents use none.
func TestUnenforcedFormatsAreLogged(t *testing.T) {
	var logs strings.Builder
	g := New(Config{APIs: nopSource{}, Tokens: nopTokens{}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	doc := strings.Replace(formatsAPI, "mail: {type: string, format: email}", "mail: {type: string, format: e164}", 1)
	if _, err := g.compile(&store.API{Name: "formats", BasePath: "/formats/v1", Status: store.APILive,
		UpstreamURL: "http://127.0.0.1:9", Document: []byte(doc)}, map[string]*httpUpstream{}); err != nil {
		t.Fatal(err)
	}
	if got := logs.String(); !strings.Contains(got, "formats=[e164]") {
		t.Errorf("log = %q; want a warning naming e164", got)
	}
	for _, file := range []string{"sim-swap.yaml", "number-verification.yaml", "location-verification.yaml"} {
		data := testcamara.Read(t, file)
		spec, err := LoadSpec(data)
		if err != nil {
			t.Fatal(err)
		}
		ops, err := spec.compileOperations()
		if err != nil {
			t.Fatal(err)
		}
		if f := unenforcedFormats(ops); len(f) > 0 {
			t.Errorf("%s: formats not enforced: %v", file, f)
		}
	}
}
