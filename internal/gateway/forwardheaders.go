package gateway

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"gatehouse/internal/problem"
)

// Headers the gateway sets for the upstream. Client-sent copies are
// removed, so an upstream can trust them.
const (
	HeaderClientID = "X-Gatehouse-Client-Id"
	HeaderSubject  = "X-Gatehouse-Subject"
)

// trustedPeerKey carries the address of a trusted reverse proxy the request
// came through (see WithTrustedPeer).
type trustedPeerKey struct{}

// WithTrustedPeer records that the request's immediate peer is peer, a
// trusted reverse proxy, and that r.RemoteAddr was set to the client it
// names. Only then does the upstream get the client's own X-Forwarded-*,
// Forwarded values, extended with the peer; otherwise gatehouse writes
// them from the connection alone.
func WithTrustedPeer(ctx context.Context, peer netip.Addr) context.Context {
	return context.WithValue(ctx, trustedPeerKey{}, peer)
}

func trustedPeer(ctx context.Context) (netip.Addr, bool) {
	a, ok := ctx.Value(trustedPeerKey{}).(netip.Addr)
	return a, ok
}

// ownHeader reports whether k is one of the request headers gatehouse sets
// itself or never forwards, in canonical form; a client's copy is dropped.
// isOwnHeader catches other spellings such as "x_gatehouse_subject", which
// CGI, WSGI, PHP and Rack upstreams read as the same variable
// (HTTP_X_GATEHOUSE_SUBJECT). (A switch: it runs for every header of every
// request, and compiles to fewer comparisons than a map lookup's hash.)
func ownHeader(k string) bool {
	switch k {
	case "X-Correlator", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
		"X-Real-Ip", "Forwarded", "Authorization", "Host", "Content-Length",
		// Method overrides would let the upstream run another operation
		// than the one routed, authorized and validated.
		"X-Http-Method-Override", "X-Http-Method", "X-Method-Override":
		return true
	}
	return false
}

// hopHeader reports whether k (canonical) is connection-specific (RFC 9110
// §7.6.1), never forwarded in either direction; neither is a header named
// in Connection, nor any Proxy-* header.
func hopHeader(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Http2-Settings": // RFC 9113 §3.2.1
		return true
	}
	return false
}

// forwardHeaders is the one header policy of both upstream kinds: it calls
// add with every header field the upstream receives for r. From the client
// it drops hop-by-hop headers and those named in Connection, Proxy-*,
// method overrides, Authorization, every header gatehouse sets (X-Gatehouse-*,
// X-Correlator, Forwarded, X-Forwarded-*, X-Real-IP), also when spelled with
// "_" or another case, and, unless allowUnderscores, any name containing
// "_" (as nginx does). Then it adds gatehouse's own: the correlator, the
// client and subject of the caller, and where the request came from: trusted
// proxies' values are kept and extended with the proxy, anyone else's are
// replaced.
func forwardHeaders(r *http.Request, caller *Caller, allowUnderscores bool, add func(name, value string)) {
	connection := r.Header["Connection"]
	for k, vs := range r.Header {
		if hopHeader(k) || ownHeader(k) || hasPrefixFold(k, "Proxy-") || hasPrefixFold(k, "X-Gatehouse-") {
			continue
		}
		if strings.IndexByte(k, '_') >= 0 {
			if !allowUnderscores || isOwnHeader(k) {
				continue
			}
		}
		if len(connection) > 0 && namedIn(k, connection) {
			continue
		}
		for _, v := range vs {
			add(k, v)
		}
	}

	add("X-Correlator", problem.Correlator(r.Context()))
	add(HeaderClientID, caller.ClientID)
	if sub := subjectHeader(caller); sub != "" {
		add(HeaderSubject, sub)
	}

	client, _, _ := net.SplitHostPort(r.RemoteAddr)
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	peer, trusted := trustedPeer(r.Context())
	forFor := client
	if trusted {
		forFor = peer.String()
	}
	xff, fwd, host, scheme := "", "", r.Host, proto
	if trusted {
		xff = strings.Join(r.Header.Values("X-Forwarded-For"), ", ")
		fwd = strings.Join(r.Header.Values("Forwarded"), ", ")
		if v := r.Header.Get("X-Forwarded-Host"); v != "" {
			host = v
		}
		if v := r.Header.Get("X-Forwarded-Proto"); v != "" {
			scheme = v
		}
	}
	if forFor != "" {
		if xff != "" {
			xff += ", "
		}
		add("X-Forwarded-For", xff+forFor)
	}
	if client != "" {
		add("X-Real-IP", client)
	}
	if host != "" {
		add("X-Forwarded-Host", host)
	}
	add("X-Forwarded-Proto", scheme)
	// RFC 7239 §4: this hop's element, after those of trusted proxies,
	// built in one buffer (one allocation, not four).
	var buf [128]byte
	elem := buf[:0]
	if fwd != "" {
		elem = append(append(elem, fwd...), ", "...)
	}
	if forFor != "" {
		elem = appendForwardedNode(append(elem, "for="...), forFor)
		elem = append(elem, ';')
	}
	if r.Host != "" {
		elem = appendForwardedValue(append(elem, "host="...), r.Host)
		elem = append(elem, ';')
	}
	elem = append(append(elem, "proto="...), proto...)
	add("Forwarded", string(elem))
}

// isOwnHeader reports whether name, lowercased and with "_" read as "-",
// is a header gatehouse sets or strips (a hop-by-hop, Proxy-* or
// X-Gatehouse-* one).
func isOwnHeader(name string) bool {
	n := http.CanonicalHeaderKey(strings.ReplaceAll(name, "_", "-"))
	return hopHeader(n) || ownHeader(n) || strings.HasPrefix(n, "Proxy-") || strings.HasPrefix(n, "X-Gatehouse-")
}

// namedIn reports whether the Connection header values list name
// (RFC 9110 §7.6.1).
func namedIn(name string, connection []string) bool {
	for _, v := range connection {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), name) {
				return true
			}
		}
	}
	return false
}

// responseHeaderForwarded reports whether a response header from the
// upstream may reach the client: not a hop-by-hop or Proxy-* header, nor one
// the upstream's Connection header names. name may be in any case.
func responseHeaderForwarded(name string, connection []string) bool {
	if hopHeader(http.CanonicalHeaderKey(name)) || hasPrefixFold(name, "Proxy-") {
		return false
	}
	return len(connection) == 0 || !namedIn(name, connection)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// appendForwardedNode appends ip as an RFC 7239 §6 node: IPv6 addresses
// are bracketed and, like anything else that is not a token, quoted.
func appendForwardedNode(b []byte, ip string) []byte {
	if strings.IndexByte(ip, ':') >= 0 {
		return append(append(append(b, `"[`...), ip...), `]"`...)
	}
	return appendForwardedValue(b, ip)
}

// quotedPairs escapes a quoted-string's content (RFC 9110 §5.6.4). Built
// once: a Replacer's first use builds its tables, which per request cost
// more than the rest of the header policy (a host with a port is quoted).
var quotedPairs = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// appendForwardedValue appends v as an RFC 7239 value: a token when it is
// one, else a quoted-string.
func appendForwardedValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		if !isTokenByte(v[i]) {
			if strings.ContainsAny(v, `"\`) {
				return append(append(append(b, '"'), quotedPairs.Replace(v)...), '"')
			}
			return append(append(append(b, '"'), v...), '"') // the common case: a host with a port
		}
	}
	return append(b, v...)
}

// isTokenByte reports whether c is an RFC 9110 §5.6.2 tchar.
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
