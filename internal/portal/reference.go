package portal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"gatehouse/internal/problem"
	"gatehouse/internal/sandbox"
	"gatehouse/internal/store"
)

// reference is what an API's page shows, read once from its OpenAPI
// document (the document the gateway serves: the portal never keeps a
// second copy of it) and kept until the API record changes.
type reference struct {
	Name        string
	Title       string
	Version     string
	Summary     string // the description's first paragraph, as text
	Description template.HTML
	Status      string
	BasePath    string
	Tags        []string
	Flows       []authFlow
	Scopes      []scope
	Operations  []*operation
	// Sandbox is set for an API the built-in sandbox answers; each
	// operation then lists its rules (sandbox.Rules).
	Sandbox bool
	// TryLive is the operator's switch opening a live API to try-it.
	TryLive bool
	// Lifecycle is the API's deprecation, sunset and successor, if any.
	Lifecycle store.APILifecycle
	// Markdown is the page as Markdown (/portal/apis/{name}.md, llms.txt).
	Markdown string
}

// authFlow is one way an app gets a token this API accepts.
type authFlow struct {
	Name, Grant, Text string
}

// scope is one OAuth scope an operation asks for, with the operations that
// accept it.
type scope struct {
	Name       string
	Operations []string
}

type operation struct {
	ID          string // operationId, or method + path
	Anchor      string
	Method      string
	Path        string // the full path the gateway serves
	Summary     string
	Description template.HTML
	Tags        []string
	Scopes      []string
	Params      []param
	Body        *payload
	Responses   []response
	Samples     []sample
	// BodyExample is the first request example, pretty JSON ("" if none).
	BodyExample string
	// Rules are the sandbox's answers to this operation, for a sandbox API.
	Rules []sandboxRule
}

// sandboxRule is one row of the sandbox's rules table as the page shows it.
type sandboxRule struct {
	When, PhoneNumber, Answer, Key string
	Status                         int
	ThreeLegged                    bool
	Body                           string
}

type param struct {
	Name, In, Type, Description string
	Required                    bool
	// Example is the parameter's example value as text ("" if none), to
	// pre-fill the try-it form.
	Example string
}

type payload struct {
	ContentType string
	Required    bool
	Description template.HTML
	Schema      *field
	Examples    []example
}

type example struct {
	Name, Summary, JSON string
}

type response struct {
	Status      string
	Class       string // "2xx", "4xx", "5xx" for styling
	Description string
	Body        *payload
	Errors      []errorCode
}

// errorCode is a CAMARA error code an operation documents, linked to the
// registry entry the gateway answers it with (when there is one).
type errorCode struct {
	Status string
	Code   string
	Key    string // registry key; "" when the API alone answers it
}

// field is one node of a schema shown as nested lists.
type field struct {
	Name        string
	Type        string
	Required    bool
	Description string
	Constraints []string
	Children    []*field
}

// maxSchemaDepth bounds the nested lists: a recursive schema (a tree
// type) is shown to this depth and then named.
const maxSchemaDepth = 6

// newReference builds an API's page model from its record and document.
func newReference(a *store.API, md *markdown) (*reference, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(a.Document)
	if err != nil {
		return nil, fmt.Errorf("api %s: %w", a.Name, err)
	}
	ref := &reference{
		Name: a.Name, Title: a.Title, Version: a.Version, Status: a.Status, BasePath: a.BasePath,
		Sandbox: a.UpstreamURL == "sandbox:", TryLive: a.Upstream.TryLive, Lifecycle: a.Lifecycle,
	}
	var rules []sandbox.Rule
	if ref.Sandbox {
		rules = sandbox.Rules(a.Name)
	}
	if doc.Info != nil {
		ref.Description = md.render(doc.Info.Description)
		ref.Summary = firstParagraph(doc.Info.Description)
	}
	if ref.Title == "" {
		ref.Title = a.Name
	}
	tags := map[string]bool{}
	scopes := map[string][]string{}
	paths := doc.Paths.InMatchingOrder()
	sort.Strings(paths)
	for _, p := range paths {
		item := doc.Paths.Value(p)
		for _, method := range methodOrder {
			op := item.GetOperation(method)
			if op == nil {
				continue
			}
			o := newOperation(a.BasePath, p, method, item, op, doc, md)
			o.Rules = operationRules(rules, method, p)
			for _, t := range o.Tags {
				tags[t] = true
			}
			for _, s := range o.Scopes {
				scopes[s] = append(scopes[s], o.ID)
			}
			ref.Operations = append(ref.Operations, o)
		}
	}
	for t := range tags {
		ref.Tags = append(ref.Tags, t)
	}
	sort.Strings(ref.Tags)
	for name, ops := range scopes {
		ref.Scopes = append(ref.Scopes, scope{Name: name, Operations: ops})
	}
	sort.Slice(ref.Scopes, func(i, j int) bool { return ref.Scopes[i].Name < ref.Scopes[j].Name })
	ref.Flows = flows(doc)
	ref.Markdown = referenceMarkdown(ref, doc)
	return ref, nil
}

var methodOrder = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead, http.MethodOptions}

func newOperation(base, path, method string, item *openapi3.PathItem, op *openapi3.Operation, doc *openapi3.T, md *markdown) *operation {
	o := &operation{
		ID: op.OperationID, Method: method, Path: base + path,
		Summary: op.Summary, Description: md.render(op.Description), Tags: op.Tags,
	}
	if o.ID == "" {
		o.ID = method + " " + path
	}
	o.Anchor = "op-" + anchorSafe(o.ID)
	security := doc.Security
	if op.Security != nil {
		security = *op.Security
	}
	for _, req := range security {
		for _, ss := range req {
			for _, s := range ss {
				if !slices.Contains(o.Scopes, s) {
					o.Scopes = append(o.Scopes, s)
				}
			}
		}
	}
	params := append(openapi3.Parameters{}, item.Parameters...)
	params = append(params, op.Parameters...)
	for _, pr := range params {
		if pr == nil || pr.Value == nil {
			continue
		}
		p := pr.Value
		o.Params = append(o.Params, param{
			Name: p.Name, In: p.In, Required: p.Required, Description: firstParagraph(p.Description),
			Type: schemaType(p.Schema), Example: paramExample(p),
		})
	}
	if rb := op.RequestBody; rb != nil && rb.Value != nil {
		o.Body = newPayload(rb.Value.Content, md.render(rb.Value.Description))
		if o.Body != nil {
			o.Body.Required = rb.Value.Required
			if len(o.Body.Examples) > 0 {
				o.BodyExample = o.Body.Examples[0].JSON
			}
		}
	}
	if op.Responses != nil {
		codes := make([]string, 0, op.Responses.Len())
		for code := range op.Responses.Map() {
			codes = append(codes, code)
		}
		sort.Strings(codes)
		for _, code := range codes {
			rr := op.Responses.Value(code)
			if rr == nil || rr.Value == nil {
				continue
			}
			desc := ""
			if rr.Value.Description != nil {
				desc = *rr.Value.Description
			}
			r := response{Status: code, Class: code[:1] + "xx", Description: firstParagraph(desc)}
			r.Body = newPayload(rr.Value.Content, "")
			if r.Body != nil && code[0] >= '4' {
				r.Errors = errorCodes(code, r.Body)
			}
			o.Responses = append(o.Responses, r)
		}
	}
	return o
}

// newPayload describes the JSON content of a body, or the first content
// type when there is no JSON one.
func newPayload(content openapi3.Content, desc template.HTML) *payload {
	if len(content) == 0 {
		return nil
	}
	types := make([]string, 0, len(content))
	for ct := range content {
		types = append(types, ct)
	}
	sort.Strings(types)
	ct := types[0]
	for _, t := range types {
		if strings.Contains(t, "json") {
			ct = t
			break
		}
	}
	mt := content[ct]
	p := &payload{ContentType: ct, Description: desc}
	if mt.Schema != nil {
		p.Schema = newField("", mt.Schema, false, 0, map[*openapi3.Schema]bool{})
	}
	names := make([]string, 0, len(mt.Examples))
	for n := range mt.Examples {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ex := mt.Examples[n]
		if ex == nil || ex.Value == nil {
			continue
		}
		p.Examples = append(p.Examples, example{Name: n, Summary: ex.Value.Summary, JSON: prettyJSON(ex.Value.Value)})
	}
	if len(p.Examples) == 0 && mt.Example != nil {
		p.Examples = append(p.Examples, example{Name: "example", JSON: prettyJSON(mt.Example)})
	}
	return p
}

func newField(name string, sr *openapi3.SchemaRef, required bool, depth int, seen map[*openapi3.Schema]bool) *field {
	f := &field{Name: name, Required: required, Type: schemaType(sr)}
	if sr == nil || sr.Value == nil {
		return f
	}
	s := sr.Value
	f.Description = firstParagraph(s.Description)
	f.Constraints = constraints(s)
	if seen[s] || depth >= maxSchemaDepth {
		if sr.Ref != "" {
			f.Constraints = append(f.Constraints, "see "+refName(sr.Ref))
		}
		return f
	}
	seen[s] = true
	defer delete(seen, s)
	// allOf: one object made of its parts; oneOf/anyOf: alternatives.
	for _, part := range s.AllOf {
		if c := newField("", part, false, depth+1, seen); c != nil {
			f.Children = append(f.Children, c.Children...)
			if f.Description == "" {
				f.Description = c.Description
			}
		}
	}
	for i, alt := range append(append(openapi3.SchemaRefs{}, s.OneOf...), s.AnyOf...) {
		label := "option " + strconv.Itoa(i+1)
		if alt.Ref != "" {
			label = refName(alt.Ref)
		}
		f.Children = append(f.Children, newField(label, alt, false, depth+1, seen))
	}
	props := make([]string, 0, len(s.Properties))
	for p := range s.Properties {
		props = append(props, p)
	}
	sort.Strings(props)
	for _, p := range props {
		f.Children = append(f.Children, newField(p, s.Properties[p], slices.Contains(s.Required, p), depth+1, seen))
	}
	if s.Items != nil {
		item := newField("items", s.Items, false, depth+1, seen)
		if len(item.Children) > 0 {
			f.Children = append(f.Children, item.Children...)
		}
	}
	return f
}

// schemaType names a schema's type for a reader: "string (date-time)",
// "array of object", "PhoneNumber (string)".
func schemaType(sr *openapi3.SchemaRef) string {
	if sr == nil || sr.Value == nil {
		return "any"
	}
	s := sr.Value
	t := ""
	if s.Type != nil && len(*s.Type) > 0 {
		t = strings.Join(*s.Type, " or ")
	}
	switch {
	case t == "array" && s.Items != nil:
		t = "array of " + schemaType(s.Items)
	case t == "" && len(s.AllOf) > 0:
		t = "object"
	case t == "" && (len(s.OneOf) > 0 || len(s.AnyOf) > 0):
		t = "one of"
	case t == "" && len(s.Properties) > 0:
		t = "object"
	case t == "":
		t = "any"
	}
	if s.Format != "" {
		t += " (" + s.Format + ")"
	}
	if sr.Ref != "" && t != "array" {
		t = refName(sr.Ref) + ": " + t
	}
	return t
}

func constraints(s *openapi3.Schema) []string {
	var c []string
	if len(s.Enum) > 0 {
		vals := make([]string, 0, len(s.Enum))
		for _, v := range s.Enum {
			vals = append(vals, fmt.Sprint(v))
		}
		c = append(c, "one of: "+strings.Join(vals, ", "))
	}
	if s.Pattern != "" {
		c = append(c, "pattern "+s.Pattern)
	}
	if s.Min != nil {
		c = append(c, "minimum "+strconv.FormatFloat(*s.Min, 'f', -1, 64))
	}
	if s.Max != nil {
		c = append(c, "maximum "+strconv.FormatFloat(*s.Max, 'f', -1, 64))
	}
	if s.MinLength > 0 {
		c = append(c, "at least "+strconv.FormatUint(s.MinLength, 10)+" characters")
	}
	if s.MaxLength != nil {
		c = append(c, "at most "+strconv.FormatUint(*s.MaxLength, 10)+" characters")
	}
	if s.Default != nil {
		c = append(c, "default "+fmt.Sprint(s.Default))
	}
	if s.Example != nil {
		if b, err := json.Marshal(s.Example); err == nil {
			c = append(c, "example "+string(b))
		}
	}
	return c
}

// errorCodes reads the CAMARA codes an error response documents (its
// examples' code members, or the enum of its code property) and links each
// to the registry entry the gateway answers with the same status and code.
func errorCodes(status string, body *payload) []errorCode {
	var codes []string
	for _, ex := range body.Examples {
		var v struct {
			Code string `json:"code"`
		}
		if json.Unmarshal([]byte(ex.JSON), &v) == nil && v.Code != "" && !slices.Contains(codes, v.Code) {
			codes = append(codes, v.Code)
		}
	}
	if len(codes) == 0 && body.Schema != nil {
		for _, c := range body.Schema.Children {
			if c.Name != "code" {
				continue
			}
			for _, k := range c.Constraints {
				if vals, ok := strings.CutPrefix(k, "one of: "); ok {
					codes = append(codes, strings.Split(vals, ", ")...)
				}
			}
		}
	}
	st, _ := strconv.Atoi(status)
	out := make([]errorCode, 0, len(codes))
	for _, c := range codes {
		out = append(out, errorCode{Status: status, Code: c, Key: registryKey(st, c)})
	}
	return out
}

// operationRules are the sandbox rows of one operation, with each answer
// in words and its error linked to the registry.
func operationRules(rules []sandbox.Rule, method, path string) []sandboxRule {
	var out []sandboxRule
	for _, r := range rules {
		if r.Method != method || r.Path != path {
			continue
		}
		v := sandboxRule{When: r.When, PhoneNumber: r.PhoneNumber, Status: r.Status, ThreeLegged: r.Subject != ""}
		if len(r.Body) > 0 {
			v.Body = compactJSON(r.Body)
		}
		if r.Code != "" {
			v.Answer = r.Code
			v.Key = registryKey(r.Status, r.Code)
		} else {
			v.Answer = compactJSON(r.Response)
		}
		out = append(out, v)
	}
	return out
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// registryKey finds the registry entry the gateway answers with this
// status and CAMARA code (the OAuth endpoints' entries share some codes but
// are not what an API call gets).
func registryKey(status int, code string) string {
	for _, e := range problem.Catalog() {
		if e.CamaraCode == code && e.Status == status && e.Group != problem.GroupOAuth {
			return e.Key
		}
	}
	return ""
}

// flows says how an app gets a token for this API, from its security
// schemes: CAMARA documents name an openIdConnect scheme, which gatehouse
// serves with client credentials (two-legged), authorization code and
// CIBA (three-legged).
func flows(doc *openapi3.T) []authFlow {
	var out []authFlow
	if doc.Components == nil {
		return out
	}
	names := make([]string, 0, len(doc.Components.SecuritySchemes))
	for n := range doc.Components.SecuritySchemes {
		names = append(names, n)
	}
	sort.Strings(names)
	add := func(f authFlow) {
		for _, g := range out {
			if g.Grant == f.Grant {
				return
			}
		}
		out = append(out, f)
	}
	for _, n := range names {
		ss := doc.Components.SecuritySchemes[n]
		if ss == nil || ss.Value == nil {
			continue
		}
		switch ss.Value.Type {
		case "openIdConnect", "oauth2":
			add(authFlow{Name: "Two-legged (client credentials)", Grant: "client_credentials",
				Text: "Your app asks for a token with its own credentials. Use it when your app, not a subscriber, is the party asking; the request then names the phone number it is about."})
			add(authFlow{Name: "Three-legged (authorization code)", Grant: "authorization_code",
				Text: "The subscriber signs in and consents in a browser; the token then stands for that line, so requests name no phone number."})
			add(authFlow{Name: "Three-legged, decoupled (CIBA)", Grant: "urn:openid:params:grant-type:ciba",
				Text: "Your backend names the line (login_hint=tel:+…) and the subscriber approves on their own device; your app polls for the token."})
		case "http":
			add(authFlow{Name: "Bearer token", Grant: "bearer", Text: "Send an access token in the Authorization header."})
		}
	}
	return out
}

// paramExample is a parameter's example (its own, else its schema's) as
// the text a form field holds: strings as they are, other values as JSON.
func paramExample(p *openapi3.Parameter) string {
	v := p.Example
	if v == nil && p.Schema != nil && p.Schema.Value != nil {
		v = p.Schema.Value.Example
	}
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(b)
	}
}

func refName(ref string) string {
	return ref[strings.LastIndex(ref, "/")+1:]
}

func anchorSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

func prettyJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// firstParagraph is the text up to the first blank line, without Markdown
// headings, for summaries and one-line descriptions.
func firstParagraph(s string) string {
	for _, para := range strings.Split(strings.TrimSpace(s), "\n\n") {
		para = strings.TrimSpace(para)
		if para == "" || strings.HasPrefix(para, "#") {
			continue
		}
		return strings.Join(strings.Fields(para), " ")
	}
	return ""
}
