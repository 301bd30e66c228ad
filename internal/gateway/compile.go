package gateway

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Spec is an OpenAPI document loaded and checked, with what the gateway
// derives from it.
type Spec struct {
	Doc *openapi3.T
	// Title and Version come from info.
	Title, Version string
	// ServerPath is the path part of the first server URL, with server
	// variables at their defaults ("{apiRoot}/sim-swap/v2" → "/sim-swap/v2").
	ServerPath string
	// Scopes lists every scope an operation can require, sorted.
	Scopes []string
	// jsonSchema2020 is set for OpenAPI 3.1 documents.
	jsonSchema2020 bool
}

// LoadSpec parses and validates an OpenAPI 3.0 or 3.1 document (YAML or
// JSON). External references are refused: a document is self-contained.
func LoadSpec(data []byte) (*Spec, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("not a loadable OpenAPI document: %w", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0") && !strings.HasPrefix(doc.OpenAPI, "3.1") {
		return nil, fmt.Errorf("openapi %q: only OpenAPI 3.0 and 3.1 are supported", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("invalid OpenAPI document: %w", err)
	}
	if doc.Paths == nil || doc.Paths.Len() == 0 {
		return nil, fmt.Errorf("the document has no paths")
	}
	s := &Spec{Doc: doc, jsonSchema2020: strings.HasPrefix(doc.OpenAPI, "3.1")}
	if doc.Info != nil {
		s.Title, s.Version = doc.Info.Title, doc.Info.Version
	}
	if len(doc.Servers) > 0 {
		if s.ServerPath, err = serverPath(doc.Servers[0]); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, alt := range securityOf(doc, op) {
				for _, sc := range alt {
					seen[sc] = true
				}
			}
		}
	}
	for sc := range seen {
		s.Scopes = append(s.Scopes, sc)
	}
	sort.Strings(s.Scopes)
	return s, nil
}

// serverPath substitutes server variables with their defaults and returns
// the URL's path without a trailing slash.
func serverPath(srv *openapi3.Server) (string, error) {
	raw := srv.URL
	for name, v := range srv.Variables {
		raw = strings.ReplaceAll(raw, "{"+name+"}", v.Default)
	}
	if strings.Contains(raw, "{") {
		return "", fmt.Errorf("server URL %q has a variable without a default", srv.URL)
	}
	if !strings.Contains(raw, "://") && !strings.HasPrefix(raw, "/") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("server URL %q: %w", srv.URL, err)
	}
	return strings.TrimSuffix(u.Path, "/"), nil
}

// securityOf returns the operation's security alternatives (OR) as lists of
// scopes (AND). A nil result means no authentication is required; a list
// holding one empty alternative means a token with any scope.
func securityOf(doc *openapi3.T, op *openapi3.Operation) [][]string {
	reqs := doc.Security
	if op.Security != nil {
		reqs = *op.Security
	}
	var out [][]string
	for _, req := range reqs {
		if len(req) == 0 {
			return nil // {} is an explicit "anonymous allowed" alternative
		}
		var alt []string
		for scheme, scopes := range req {
			if !bearerScheme(doc, scheme) {
				continue
			}
			alt = append(alt, scopes...)
		}
		slices.Sort(alt)
		out = append(out, slices.Compact(alt))
	}
	return out
}

// bearerScheme reports whether a security scheme is one the gateway
// enforces with an access token: OAuth 2.0, OpenID Connect (CAMARA's
// openId) or HTTP bearer.
func bearerScheme(doc *openapi3.T, name string) bool {
	if doc.Components == nil {
		return false
	}
	ref, ok := doc.Components.SecuritySchemes[name]
	if !ok || ref.Value == nil {
		return false
	}
	switch s := ref.Value; s.Type {
	case "oauth2", "openIdConnect":
		return true
	case "http":
		return strings.EqualFold(s.Scheme, "bearer")
	}
	return false
}

// operation is one method on one path, with everything the pipeline checks.
type operation struct {
	id       string
	method   string
	template string // path template relative to the base path
	// security: nil = no token needed; otherwise any one alternative's
	// scopes must all be granted.
	security [][]string
	// consumes lists accepted request media types; empty when the
	// operation takes no body.
	consumes     []string
	bodyRequired bool
	bodySchema   *openapi3.Schema
	// fastBody is bodySchema's fast form (see fastSchema), nil when it
	// has none.
	fastBody *fastSchema
	// discriminated lists the schemas through which the body schema
	// reaches a discriminator that kin-openapi does not apply by itself
	// (see discriminate); nil when there is none.
	discriminated map[*openapi3.Schema]bool
	// members indexes the body schema's documented member names, to
	// refuse case variants of them (see memberIndex).
	members memberIndex
	// produces lists the response media types (for 406).
	produces []string
	params   []param
	// identifier is the body property that identifies the device ("device"
	// or "phoneNumber") when the operation follows CAMARA's identifier
	// rules (it documents 422 MISSING_IDENTIFIER); empty otherwise.
	identifier string
	// scopeHint is what a 403 names as the scope to request.
	scopeHint string
}

type param struct {
	name, in string
	required bool
	schema   *openapi3.Schema
}

// compileOperations turns the document's paths into operations.
func (s *Spec) compileOperations() ([]*operation, error) {
	var ops []*operation
	for _, template := range s.Doc.Paths.InMatchingOrder() {
		item := s.Doc.Paths.Find(template)
		for method, op := range item.Operations() {
			o := &operation{id: op.OperationID, method: strings.ToUpper(method), template: template}
			o.security = securityOf(s.Doc, op)
			if len(o.security) > 0 {
				o.scopeHint = strings.Join(o.security[0], " ")
			}
			for _, ref := range append(slices.Clone(item.Parameters), op.Parameters...) {
				if ref == nil || ref.Value == nil {
					continue
				}
				p := param{name: ref.Value.Name, in: ref.Value.In, required: ref.Value.Required}
				if ref.Value.Schema != nil {
					p.schema = ref.Value.Schema.Value
				}
				o.params = append(o.params, p)
			}
			if rb := op.RequestBody; rb != nil && rb.Value != nil {
				o.bodyRequired = rb.Value.Required
				for mt, media := range rb.Value.Content {
					o.consumes = append(o.consumes, strings.ToLower(mt))
					if isJSONMedia(mt) && media.Schema != nil && o.bodySchema == nil {
						o.bodySchema = media.Schema.Value
					}
				}
				sort.Strings(o.consumes)
			}
			if o.bodySchema != nil {
				o.discriminated = discriminatorPaths(s.Doc, o.bodySchema)
				o.members = buildMemberIndex(s.Doc, o.bodySchema)
				if !s.jsonSchema2020 {
					o.fastBody = compileFastSchema(o.bodySchema)
				}
			}
			o.produces = responseMediaTypes(op)
			o.identifier = identifierRule(op, o.bodySchema)
			ops = append(ops, o)
		}
	}
	return ops, nil
}

func isJSONMedia(mt string) bool {
	base, _, _ := mime.ParseMediaType(mt)
	if base == "" {
		base = strings.ToLower(mt)
	}
	return base == "application/json" || strings.HasSuffix(base, "+json")
}

// responseMediaTypes collects the media types of the operation's success
// responses (2xx and default), falling back to application/json.
func responseMediaTypes(op *openapi3.Operation) []string {
	seen := map[string]bool{}
	if op.Responses != nil {
		for code, ref := range op.Responses.Map() {
			if ref == nil || ref.Value == nil || !(strings.HasPrefix(code, "2") || code == "default") {
				continue
			}
			for mt := range ref.Value.Content {
				seen[strings.ToLower(mt)] = true
			}
		}
	}
	if len(seen) == 0 {
		return []string{"application/json"}
	}
	out := make([]string, 0, len(seen))
	for mt := range seen {
		out = append(out, mt)
	}
	sort.Strings(out)
	return out
}

// identifierRule detects CAMARA's device-identifier rules: the operation
// documents 422 MISSING_IDENTIFIER and its body has a top-level "device" or
// "phoneNumber" property.
func identifierRule(op *openapi3.Operation, body *openapi3.Schema) string {
	if body == nil || op.Responses == nil {
		return ""
	}
	r := op.Responses.Value("422")
	if r == nil || r.Value == nil || !mentionsCode(r.Value, "MISSING_IDENTIFIER") {
		return ""
	}
	for _, name := range []string{"device", "phoneNumber"} {
		if _, ok := schemaProperties(body)[name]; ok {
			return name
		}
	}
	return ""
}

// mentionsCode looks for a code in a response's schema enums and examples.
func mentionsCode(r *openapi3.Response, code string) bool {
	for _, media := range r.Content {
		for _, ex := range media.Examples {
			if ex != nil && ex.Value != nil {
				if m, ok := ex.Value.Value.(map[string]any); ok && m["code"] == code {
					return true
				}
			}
		}
		if media.Schema != nil && schemaMentions(media.Schema.Value, code, 0) {
			return true
		}
	}
	return false
}

func schemaMentions(s *openapi3.Schema, code string, depth int) bool {
	if s == nil || depth > 8 {
		return false
	}
	if slices.Contains(s.Enum, any(code)) {
		return true
	}
	for _, p := range s.Properties {
		if p != nil && schemaMentions(p.Value, code, depth+1) {
			return true
		}
	}
	for _, group := range [][]*openapi3.SchemaRef{s.AllOf, s.OneOf, s.AnyOf} {
		for _, sub := range group {
			if sub != nil && schemaMentions(sub.Value, code, depth+1) {
				return true
			}
		}
	}
	return false
}

// schemaProperties returns an object schema's properties, merging allOf.
func schemaProperties(s *openapi3.Schema) map[string]*openapi3.SchemaRef {
	out := map[string]*openapi3.SchemaRef{}
	var walk func(s *openapi3.Schema, depth int)
	walk = func(s *openapi3.Schema, depth int) {
		if s == nil || depth > 8 {
			return
		}
		for k, v := range s.Properties {
			out[k] = v
		}
		for _, sub := range s.AllOf {
			if sub != nil {
				walk(sub.Value, depth+1)
			}
		}
	}
	walk(s, 0)
	return out
}

// allowedMethods lists methods for the Allow header in a stable order.
func allowedMethods(ops map[string]*operation) string {
	order := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}
	var out []string
	for _, m := range order {
		_, ok := ops[m]
		if m == http.MethodHead {
			_, ok2 := ops[http.MethodGet]
			ok = ok || ok2 // HEAD is answered wherever GET is
		}
		if ok {
			out = append(out, m)
		}
	}
	for m := range ops {
		if !slices.Contains(order, m) {
			out = append(out, m)
		}
	}
	return strings.Join(out, ", ")
}
