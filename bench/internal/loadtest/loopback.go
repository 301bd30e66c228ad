package loadtest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// ErrNotLoopback is wrapped by the error returned for a non-loopback target.
var ErrNotLoopback = errors.New("load tests may only target loopback (127.0.0.0/8, ::1, localhost)")

// CheckLoopbackURL parses raw and accepts it only if it is an http or https
// URL whose host is a loopback address (127.0.0.0/8, ::1) or "localhost".
// Load tests must only ever target the local machine.
func CheckLoopbackURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("loadtest: no target URL given")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("loadtest: bad target URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("loadtest: target URL %q: scheme must be http or https", raw)
	}
	host := u.Hostname()
	if host == "" {
		return nil, fmt.Errorf("loadtest: target URL %q has no host", raw)
	}
	if !isLoopbackHost(host) {
		return nil, fmt.Errorf("loadtest: refusing target host %q: %w", host, ErrNotLoopback)
	}
	return u, nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	// Zoned addresses (fe80::1%eth0) are never loopback; ParseAddr keeps the
	// zone and IsLoopback is false for them.
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return ip.Unmap().IsLoopback()
}

// loopbackOnlyControl is a net.Dialer Control hook: it runs after name
// resolution, just before connect, and rejects any non-loopback address.
// This also covers "localhost" resolving to something unexpected.
func loopbackOnlyControl(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("loadtest: refusing to dial %q: %v", address, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() {
		return fmt.Errorf("loadtest: refusing to dial %s (%s): %w", address, network, ErrNotLoopback)
	}
	return nil
}
