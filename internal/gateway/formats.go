package gateway

import (
	"errors"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
)

// stringFormats are the string formats the gateway enforces. kin-openapi
// checks only the formats registered with it and lets every other one
// through, and by default knows just byte, date and date-time (by regular
// expression): "ipv4", "ipv6", "email", "uri" and "uuid" — all used by
// CAMARA documents — were never checked. They are passed per validation
// (openapi3.WithStringFormatValidators) rather than registered in
// kin-openapi's process-wide tables, so nothing else in the process
// changes behaviour. The map is read-only after init.
//
// The errors never repeat the value: it may be personal data (an IP
// address identifies a device).
var stringFormats = map[string]openapi3.StringFormatValidator{
	"ipv4":          openapi3.NewCallbackValidator(checkIPv4),
	"ipv6":          openapi3.NewCallbackValidator(checkIPv6),
	"date-time":     openapi3.NewCallbackValidator(checkDateTime),
	"date":          openapi3.NewCallbackValidator(checkDate),
	"time":          openapi3.NewCallbackValidator(checkTime),
	"email":         openapi3.NewCallbackValidator(checkEmail),
	"uri":           openapi3.NewCallbackValidator(checkURI),
	"uri-reference": openapi3.NewCallbackValidator(checkURIReference),
	"uuid":          openapi3.NewCallbackValidator(checkUUID),
	"hostname":      openapi3.NewCallbackValidator(checkHostname),
}

// formatOption is the validation option that enforces stringFormats.
var formatOption = openapi3.WithStringFormatValidators(stringFormats)

func checkIPv4(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return errors.New("not an IPv4 address in dotted-decimal form")
	}
	return nil
}

func checkIPv6(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() || a.Zone() != "" {
		return errors.New("not an IPv6 address in RFC 4291 text form, without a zone")
	}
	return nil
}

// checkDateTime requires RFC 3339 §5.6 date-time, with a time zone. A
// leap second (":60") is valid RFC 3339 that time.Parse refuses, so it is
// checked as ":59".
func checkDateTime(s string) error {
	if len(s) > 19 && s[16] == ':' && s[17:19] == "60" {
		s = s[:17] + "59" + s[19:]
	}
	if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
		return errors.New("not an RFC 3339 date-time with a time zone, such as 2024-05-01T10:00:00Z")
	}
	return nil
}

func checkDate(s string) error {
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return errors.New("not an RFC 3339 full-date, such as 2024-05-01")
	}
	return nil
}

func checkTime(s string) error {
	if _, err := time.Parse("15:04:05.999999999Z07:00", s); err != nil {
		return errors.New("not an RFC 3339 full-time with a time zone, such as 10:00:00Z")
	}
	return nil
}

// checkEmail accepts a bare RFC 5322 addr-spec: no display name, no angle
// brackets.
func checkEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return errors.New("not an email address such as name@example.com")
	}
	return nil
}

// checkURI requires an absolute URI (RFC 3986 §4.3): a scheme, and no
// spaces or control characters.
func checkURI(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || strings.ContainsAny(s, " \t\r\n") {
		return errors.New("not an absolute URI with a scheme, such as https://example.com/path")
	}
	return nil
}

func checkURIReference(s string) error {
	if _, err := url.Parse(s); err != nil || strings.ContainsAny(s, " \t\r\n") {
		return errors.New("not a URI reference")
	}
	return nil
}

// checkUUID accepts the RFC 9562 text form of any version.
func checkUUID(s string) error {
	if len(s) != 36 {
		return errUUID
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return errUUID
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return errUUID
		}
	}
	return nil
}

var errUUID = errors.New("not a UUID such as 123e4567-e89b-12d3-a456-426614174000")

// checkHostname accepts an RFC 1123 host name: dot-separated labels of
// letters, digits and inner hyphens, at most 63 bytes each, 253 in all.
func checkHostname(s string) error {
	bad := errors.New("not a host name (RFC 1123)")
	if s == "" || len(s) > 253 {
		return bad
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return bad
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return bad
			}
		}
	}
	return nil
}

// annotationFormats are formats that state no rule to enforce: "binary"
// and "password" describe content or presentation, and "byte" is checked
// by kin-openapi itself.
var annotationFormats = map[string]bool{"binary": true, "password": true, "byte": true}

// unenforcedFormats lists, sorted, the string formats used by the
// operations' request schemas that the gateway does not check, so that the
// operator learns of them when the API is loaded instead of finding out
// from a bad request that passed.
func unenforcedFormats(ops []*operation) []string {
	seen := map[*openapi3.Schema]bool{}
	found := map[string]bool{}
	var walk func(s *openapi3.Schema)
	walk = func(s *openapi3.Schema) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		if f := s.Format; f != "" && (s.Type == nil || s.Type.Includes("string")) {
			if _, known := stringFormats[f]; !known && !annotationFormats[f] {
				found[f] = true
			}
		}
		refs := []*openapi3.SchemaRef{s.Items, s.AdditionalProperties.Schema, s.Not}
		refs = append(refs, s.AllOf...)
		refs = append(refs, s.OneOf...)
		refs = append(refs, s.AnyOf...)
		for _, p := range s.Properties {
			refs = append(refs, p)
		}
		for _, r := range refs {
			if r != nil {
				walk(r.Value)
			}
		}
	}
	for _, op := range ops {
		walk(op.bodySchema)
		for _, p := range op.params {
			walk(p.schema)
		}
	}
	out := make([]string, 0, len(found))
	for f := range found {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}
