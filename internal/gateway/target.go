package gateway

import (
	"net/url"
	"strings"

	"gatehouse/internal/problem"
)

// checkPath refuses request paths whose decoded form could route or forward
// differently from what the gateway sees (issue 9): percent-encoded control
// characters, "?" and "#" (the upstream would cut the path there), encoded
// "/" and "\" (the upstream would split a segment the route treated as one),
// a raw backslash, and dot-segments raw or encoded (RFC 3986 §5.2.4: the
// upstream would remove them and reach another path). It runs before
// routing, on every request the gateway front sees. Nothing CAMARA defines
// needs any of these in a path.
func checkPath(u *url.URL) *problem.Error {
	p := u.Path
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c < 0x20 || c == 0x7f || c == '?' || c == '#' || c == '\\':
			return problem.Newf(problem.BadRequestPathEncodedDelimiter,
				"The path contains %s; send it unencoded only where the API reference has a separate parameter for it.", describeByte(c))
		case c == '.' && (i == 0 || p[i-1] == '/'):
			if rest := p[i+1:]; rest == "" || rest[0] == '/' || rest == "." || strings.HasPrefix(rest, "./") {
				return problem.New(problem.BadRequestPathDotSegment,
					"The path contains a `.` or `..` segment; send the path the API reference documents, without dot-segments.")
			}
		}
	}
	// An encoded slash decodes to a "/" the route tree splits on, but the
	// raw path keeps it inside one segment.
	if raw := u.RawPath; raw != "" && (strings.Contains(raw, "%2") || strings.Contains(raw, "%5")) {
		lower := strings.ToLower(raw)
		if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
			return problem.New(problem.BadRequestPathEncodedDelimiter,
				"The path contains an encoded slash (`%2F` or `%5C`); a path segment may not contain a slash.")
		}
	}
	return nil
}

// describeByte names a refused path byte for the error detail.
func describeByte(c byte) string {
	switch c {
	case '?':
		return "an encoded `?` (`%3F`)"
	case '#':
		return "a `#` (`%23`)"
	case '\\':
		return "a backslash"
	}
	return "an encoded control character (`%" + strings.ToUpper(hexByte(c)) + "`)"
}

func hexByte(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&0xf]})
}

// checkQuery refuses a query string that parsers could split differently
// from the one validation used: raw spaces or control characters, "#",
// ";" (a pair separator for some servers, an error for Go's parser, which
// drops the pair) and invalid percent-encodings (dropped by Go's parser, so
// never validated). The query forwarded is then exactly r.URL.RawQuery,
// which is what validation reads.
func checkQuery(raw string) *problem.Error {
	for i := 0; i < len(raw); i++ {
		bad := false
		switch c := raw[i]; {
		case c <= 0x20 || c == 0x7f || c == '#' || c == ';':
			bad = true
		case c == '%':
			bad = i+2 >= len(raw) || !ishex(raw[i+1]) || !ishex(raw[i+2])
			i += 2
		}
		if bad {
			return problem.New(problem.BadRequestQueryNotCanonical,
				"The query string contains a raw space, control character, `#` or `;`, or an invalid percent-encoding; percent-encode reserved characters in parameter values.")
		}
	}
	return nil
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// upstreamPath is the path the upstream receives for rel, the decoded path
// relative to the API's base that was routed and validated: re-encoded
// canonically (RFC 3986), never the client's own bytes.
func upstreamPath(rel string) string {
	return (&url.URL{Path: rel}).EscapedPath()
}
