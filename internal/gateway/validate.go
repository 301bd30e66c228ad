package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"

	"gatehouse/internal/problem"
)

// validate checks parameters and the body against the operation's schemas
// (400 INVALID_ARGUMENT or OUT_OF_RANGE naming the field), then CAMARA's
// identifier rules between 2- and 3-legged tokens (422). The body is
// forwarded as received, so it must mean to any upstream what it meant
// here: it is refused unless it is UTF-8 JSON naming no member twice
// (duplicateKey), matches the schema including the subtype its
// discriminators select (discriminate), and spells documented members
// with their exact case (memberIndex).
func validate(r *http.Request, api *compiledAPI, op *operation, rel string, body []byte, caller *Caller) *problem.Error {
	opts := api.visitOpts
	if len(op.params) > 0 {
		if p := validateParams(r, op, rel, opts); p != nil {
			return p
		}
	}
	if op.bodySchema == nil {
		if op.bodyRequired && len(body) == 0 {
			return problem.New(problem.BadRequestSchemaViolation, "This operation requires a request body.")
		}
		return nil
	}
	if len(body) == 0 {
		if op.bodyRequired {
			return problem.New(problem.BadRequestSchemaViolation, "This operation requires a JSON request body.").With("field", "")
		}
		return checkIdentifier(op, nil, caller)
	}
	if !utf8.Valid(body) {
		return problem.New(problem.BadRequestMalformedBody, "The body is not valid UTF-8, which JSON requires (RFC 8259 §8.1).")
	}
	value, ok := decodeBody(body)
	if !ok {
		// The general path: Unmarshal's error, or its value once
		// duplicateKey found no member named twice.
		if err := json.Unmarshal(body, &value); err != nil {
			return problem.Newf(problem.BadRequestMalformedBody, "The body is not valid JSON: %s.", jsonErrorText(err))
		}
		if name, dup := duplicateKey(body); dup {
			return duplicateProblem(name)
		}
	}
	// The fast form recognises the valid bodies of plain schemas; any other
	// body, and every invalid one, is kin-openapi's to judge and explain.
	if op.fastBody == nil || !op.fastBody.valid(value) {
		if err := op.bodySchema.VisitJSON(value, opts...); err != nil {
			return schemaProblem(err, "body", nil)
		}
	}
	if op.discriminated != nil {
		if p := discriminate(api.spec.Doc, op.discriminated, op.bodySchema, value, nil, nil, opts); p != nil {
			return p
		}
	}
	if p := op.members.caseMismatch(op.bodySchema, value); p != nil {
		return p
	}
	obj, _ := value.(map[string]any)
	return checkIdentifier(op, obj, caller)
}

// checkIdentifier applies CAMARA's rules for operations that identify a
// device: a 2-legged token needs the identifier in the body; a 3-legged
// token already identifies the device, so one in the body is refused even
// if it is the same (the server cannot tell).
func checkIdentifier(op *operation, body map[string]any, caller *Caller) *problem.Error {
	if op.identifier == "" {
		return nil
	}
	_, present := body[op.identifier]
	switch {
	case caller.ThreeLegged() && present:
		return problem.Newf(problem.UnnecessaryIdentifierIdentifierInToken,
			"The access token already identifies the device; remove %q from the body.", op.identifier).With("field", op.identifier)
	case !caller.ThreeLegged() && !present:
		return problem.Newf(problem.MissingIdentifierIdentifierMissing,
			"A token from client_credentials does not identify a device; send %q in the body.", op.identifier).With("field", op.identifier)
	}
	return nil
}

// validateParams checks path, query and header parameters. The
// x-correlator header is the front's business (an invalid one is replaced,
// not refused), so it is skipped here.
func validateParams(r *http.Request, op *operation, rel string, opts []openapi3.SchemaValidationOption) *problem.Error {
	var pathValues map[string]string
	for _, p := range op.params {
		var raw string
		var present bool
		switch p.in {
		case "path":
			if pathValues == nil {
				pathValues = extractPathParams(op.template, rel)
			}
			raw, present = pathValues[p.name]
		case "query", "header":
			var vs []string
			if p.in == "query" {
				vs = r.URL.Query()[p.name]
			} else {
				if strings.EqualFold(p.name, "x-correlator") {
					continue
				}
				vs = r.Header.Values(p.name)
			}
			present = len(vs) > 0
			if present {
				raw = vs[0]
			}
			// Like a duplicate JSON member: the gateway would check the
			// first value, an upstream may read the last.
			if len(vs) > 1 && (p.schema == nil || !p.schema.Type.Is("array")) {
				return problem.Newf(problem.BadRequestInvalidParameter,
					"The %s parameter %q is given %d times; it takes one value.", p.in, p.name, len(vs)).With("field", p.name)
			}
		default:
			continue
		}
		if !present {
			if p.required {
				return problem.Newf(problem.BadRequestInvalidParameter, "The %s parameter %q is required.", p.in, p.name).With("field", p.name)
			}
			continue
		}
		if p.schema == nil {
			continue
		}
		if err := p.schema.VisitJSON(coerce(raw, p.schema), opts...); err != nil {
			pr := schemaProblem(err, p.in+" parameter "+p.name, nil)
			if pr.Reason() == problem.BadRequestSchemaViolation {
				pr = problem.Newf(problem.BadRequestInvalidParameter, "The %s parameter %q is invalid: %s.", p.in, p.name, reasonOf(err)).With("field", p.name)
			}
			return pr
		}
	}
	return nil
}

// coerce turns a parameter's text into the JSON type its schema expects.
func coerce(raw string, s *openapi3.Schema) any {
	switch {
	case s.Type.Is("integer"):
		if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
			return float64(n)
		}
	case s.Type.Is("number"):
		if f, err := strconv.ParseFloat(raw, 64); err == nil {
			return f
		}
	case s.Type.Is("boolean"):
		if b, err := strconv.ParseBool(raw); err == nil {
			return b
		}
	}
	return raw
}

func extractPathParams(template, rel string) map[string]string {
	out := map[string]string{}
	ts, ps := splitPath(template), splitPath(rel)
	for i, seg := range ts {
		if i < len(ps) && strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out[seg[1:len(seg)-1]] = ps[i]
		}
	}
	return out
}

// rangeKeywords are the schema fields whose violation is CAMARA's
// OUT_OF_RANGE rather than INVALID_ARGUMENT.
var rangeKeywords = map[string]bool{
	"minimum": true, "maximum": true, "exclusiveMinimum": true, "exclusiveMaximum": true,
}

// schemaProblem turns a kin-openapi validation error into the registry
// entry naming the offending field; prefix is the path of the validated
// value within the body (nil for the body itself).
func schemaProblem(err error, where string, prefix []string) *problem.Error {
	var se *openapi3.SchemaError
	if !errors.As(err, &se) {
		var me openapi3.MultiError
		if errors.As(err, &me) && len(me) > 0 {
			return schemaProblem(me[0], where, prefix)
		}
		return problem.Newf(problem.BadRequestSchemaViolation, "The %s does not match the API's schema.", where)
	}
	se = innermost(se)
	path := append(slices.Clip(prefix), se.JSONPointer()...)
	if se.SchemaField == "discriminator" && se.Schema != nil && se.Schema.Discriminator != nil {
		path = append(path, se.Schema.Discriminator.PropertyName)
	}
	field := strings.Join(path, ".")
	if field == "" {
		field = "(root)"
	}
	reason := strings.TrimSuffix(se.Reason, ".")
	if alt := requiredAlternatives(se); alt != "" {
		reason = alt
	}
	if rangeKeywords[se.SchemaField] {
		return problem.Newf(problem.OutOfRangeValueOutOfRange, "%s: %s.", field, reason).With("field", field)
	}
	return problem.Newf(problem.BadRequestSchemaViolation, "%s: %s.", field, reason).With("field", field)
}

// requiredAlternatives describes a failed anyOf or oneOf whose branches
// only list required members (CAMARA's DeviceIpv4Addr: publicAddress with
// privateAddress or with publicPort), which kin-openapi reports as
// "doesn't match any schema"; "" for any other error.
func requiredAlternatives(se *openapi3.SchemaError) string {
	if se.Schema == nil {
		return ""
	}
	var group []*openapi3.SchemaRef
	switch se.SchemaField {
	case "anyOf":
		group = se.Schema.AnyOf
	case "oneOf":
		group = se.Schema.OneOf
	default:
		return ""
	}
	var alts []string
	for _, ref := range group {
		b := ref.Value
		if b == nil || len(b.Required) == 0 || len(b.Properties) > 0 || (b.Type != nil && len(*b.Type) > 0) ||
			len(b.AllOf)+len(b.AnyOf)+len(b.OneOf) > 0 || b.Not != nil {
			return ""
		}
		alts = append(alts, strings.Join(b.Required, " with "))
	}
	if len(alts) == 0 {
		return ""
	}
	if se.SchemaField == "oneOf" {
		return "send exactly one of: " + strings.Join(alts, "; or ")
	}
	return "send " + strings.Join(alts, ", or ")
}

// innermost follows an allOf failure, or a oneOf failure with a single
// candidate (the one a discriminator chose), down to the rule that
// actually failed, so that the answer names "area.center.latitude" and
// its maximum rather than "area" and "doesn't match all schemas from
// allOf". The paths of nested errors are already complete (kin-openapi
// marks them as the error travels up).
func innermost(se *openapi3.SchemaError) *openapi3.SchemaError {
	for range 64 {
		if se.SchemaField != "allOf" && se.SchemaField != "oneOf" {
			return se
		}
		var me openapi3.MultiError
		if se.Origin == nil || !errors.As(se.Origin, &me) || len(me) == 0 || (se.SchemaField == "oneOf" && len(me) != 1) {
			return se
		}
		var next *openapi3.SchemaError
		if !errors.As(me[0], &next) {
			return se
		}
		se = next
	}
	return se
}

// duplicateProblem is the answer to a body naming a member twice.
func duplicateProblem(path string) *problem.Error {
	if len(path) > 200 {
		path = path[:200] + "…"
	}
	return problem.Newf(problem.BadRequestDuplicateKey,
		"%q occurs twice in the same JSON object; send each member once.", path).With("field", path)
}

func reasonOf(err error) string {
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		return strings.TrimSuffix(se.Reason, ".")
	}
	return "it does not match the schema"
}

// jsonErrorText describes a JSON syntax error without echoing the input.
func jsonErrorText(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return syn.Error() + " at byte " + strconv.FormatInt(syn.Offset, 10)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return "unexpected " + typ.Value
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}
