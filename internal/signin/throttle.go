package signin

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/ratelimit"
)

// PerAccount is the sign-in throttle of one account (OWASP Authentication
// Cheat Sheet, "Protect against automated attacks"): every attempt,
// successful or not, counts against the account named before the password
// is checked, so a refused attempt costs no argon2id. It lets a person
// mistype a few times and slows a guesser to one try every 10 s; it is a
// rate, not a lockout, so an attacker cannot lock anyone out for longer
// than that.
var PerAccount = ratelimit.Policy{Rate: 0.1, Burst: 10}

// Throttle counts sign-in attempts per account and per source address in
// the abuse limiter. The address limit bounds password spraying across
// accounts.
type Throttle struct {
	// Limiter is the abuse limiter; nil throttles nothing.
	Limiter ratelimit.Limiter
	// AddressRate is the attempts per second allowed from one address
	// (burst ten times that); 0 means no address limit.
	AddressRate int
	// Now is the clock.
	Now func() time.Time
	// Logger receives a warning for each throttled attempt.
	Logger *slog.Logger
	// What names the sign-in in the log ("end-user", "developer").
	What string
}

// Wait counts an attempt for the account key (its kind and name, e.g.
// "developer|ana@example.com") and the request's address and returns how
// long to wait when one of them is over its limit, 0 to go on. Limiter
// failures let the attempt through: the throttle protects, it does not
// promise.
func (t *Throttle) Wait(r *http.Request, account string) time.Duration {
	if t == nil || t.Limiter == nil {
		return 0
	}
	now := t.Now()
	perAddress := ratelimit.Policy{Rate: float64(t.AddressRate), Burst: int64(10 * t.AddressRate)}
	for _, c := range []struct {
		key    string
		policy ratelimit.Policy
	}{
		{"signin-addr|" + RemoteHost(r), perAddress},
		{"signin-" + account, PerAccount},
	} {
		if !c.policy.Limited() {
			continue
		}
		d, err := t.Limiter.Allow(r.Context(), c.key, c.policy, now)
		if err == nil && !d.Allowed() {
			t.log(r.Context(), r, strings.SplitN(c.key, "|", 2)[0])
			return max(d.RetryAfter, time.Second)
		}
	}
	return 0
}

func (t *Throttle) log(ctx context.Context, r *http.Request, limit string) {
	if t.Logger == nil {
		return
	}
	t.Logger.LogAttrs(ctx, slog.LevelWarn, t.What+" sign-in throttled",
		slog.String("limit", limit), slog.String("path", r.URL.Path),
		slog.String("correlator", problem.Correlator(ctx)))
}

// RemoteHost is the request's source address without the port.
func RemoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
