package server

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"gatehouse/internal/gateway"
)

// trustProxies sets r.RemoteAddr to the client's address when the request
// came through trusted reverse proxies, so that every per-address limit,
// log line and the upstream's X-Forwarded-For see the client rather than
// the proxy. X-Forwarded-For is read from the right: each hop appends the
// address it received the request from, so the entries a client wrote
// itself are on the left and cannot be trusted. The client is the nearest
// entry that is not a trusted proxy (or, when every entry is, the leftmost).
// A request whose immediate peer is not a trusted proxy keeps its address
// whatever headers it carries.
func trustProxies(next http.Handler, trusted []netip.Prefix) http.Handler {
	if len(trusted) == 0 {
		return next
	}
	isTrusted := func(a netip.Addr) bool {
		a = a.Unmap()
		return slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(a) })
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !isTrusted(peer.Addr()) {
			next.ServeHTTP(w, r)
			return
		}
		client := peer.Addr()
		hops := r.Header.Values("X-Forwarded-For")
	walk:
		for i := len(hops) - 1; i >= 0; i-- {
			entries := strings.Split(hops[i], ",")
			for j := len(entries) - 1; j >= 0; j-- {
				a, ok := forwardedAddr(entries[j])
				if !ok {
					break walk // a malformed entry: nothing left of it can be placed
				}
				client = a
				if !isTrusted(a) {
					break walk
				}
			}
		}
		r.RemoteAddr = netip.AddrPortFrom(client.Unmap(), 0).String()
		next.ServeHTTP(w, r.WithContext(gateway.WithTrustedPeer(r.Context(), peer.Addr().Unmap())))
	})
}

// forwardedAddr parses one X-Forwarded-For entry: an address, possibly
// with a port (some proxies add one).
func forwardedAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), true
	}
	return netip.Addr{}, false
}
