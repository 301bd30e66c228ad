// Package config holds gatehouse's configuration: defaults that start a
// working platform with no configuration at all, overridden by one YAML file
// and then by GATEHOUSE_* environment variables.
package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is every option gatehouse reads. The yaml tag is the key in the
// configuration file; the env tag is the environment variable that overrides
// it. Both names are public interface: keep them stable.
type Config struct {
	// PublicAddr is the listener for OAuth/OIDC, the gateway and the portal.
	PublicAddr string `yaml:"public_addr" env:"GATEHOUSE_PUBLIC_ADDR"`
	// AdminAddr is the listener for the admin API, /metrics, /healthz and
	// /readyz. Keep it on loopback or a private network.
	AdminAddr string `yaml:"admin_addr" env:"GATEHOUSE_ADMIN_ADDR"`
	// Issuer is the authorization server's issuer identifier and the
	// public base URL; discovery and every link are derived from it.
	Issuer string `yaml:"issuer" env:"GATEHOUSE_ISSUER"`
	// DataDir holds the SQLite database and generated secrets.
	DataDir string `yaml:"data_dir" env:"GATEHOUSE_DATA_DIR"`
	// DatabaseURL names the database: postgres:// or postgresql:// for
	// PostgreSQL, sqlite:PATH (sqlite:./data/gatehouse.db,
	// sqlite:/abs/gatehouse.db, or sqlite:///abs/gatehouse.db) for SQLite.
	// Empty means the SQLite file DataDir/gatehouse.db. Anything else is
	// refused at start-up (CheckDatabaseURL): a typo must not create a
	// new, empty SQLite file and start an empty platform.
	DatabaseURL string `yaml:"database_url" env:"GATEHOUSE_DATABASE_URL"`
	// StoreTimeout bounds every database call: past it the call is
	// interrupted and the request answered 503 (temporarily_unavailable
	// on OAuth endpoints, UNAVAILABLE elsewhere) with Retry-After, and
	// /readyz reports the database unreachable until a call succeeds.
	StoreTimeout time.Duration `yaml:"store_timeout" env:"GATEHOUSE_STORE_TIMEOUT"`
	// Secret encrypts signing keys at rest. Empty means the one generated
	// on first start in DataDir/secret. Every node sharing a database must
	// use the same secret.
	Secret string `yaml:"secret" env:"GATEHOUSE_SECRET"`
	// AdminToken guards the admin API. Empty means the one generated on
	// first start in DataDir/admin-token.
	AdminToken string `yaml:"admin_token" env:"GATEHOUSE_ADMIN_TOKEN"`
	// AccessTokenTTL is the lifetime of issued access tokens.
	AccessTokenTTL time.Duration `yaml:"access_token_ttl" env:"GATEHOUSE_ACCESS_TOKEN_TTL"`
	// SecretRotationGrace is how long a client's previous secret keeps
	// working after rotate-secret.
	SecretRotationGrace time.Duration `yaml:"secret_rotation_grace" env:"GATEHOUSE_SECRET_ROTATION_GRACE"`
	// KeyRetention is how long a retired signing key stays in the JWKS.
	KeyRetention time.Duration `yaml:"key_retention" env:"GATEHOUSE_KEY_RETENTION"`
	// MaxURIBytes bounds the request target (414 beyond).
	MaxURIBytes int `yaml:"max_uri_bytes" env:"GATEHOUSE_MAX_URI_BYTES"`
	// MaxHeaderBytes bounds the request header block (431 beyond).
	MaxHeaderBytes int `yaml:"max_header_bytes" env:"GATEHOUSE_MAX_HEADER_BYTES"`
	// MaxFormBytes bounds the body of OAuth endpoint requests (413 beyond).
	MaxFormBytes int64 `yaml:"max_form_bytes" env:"GATEHOUSE_MAX_FORM_BYTES"`
	// UpstreamTimeout bounds one gateway exchange with an API's upstream
	// (504 beyond).
	UpstreamTimeout time.Duration `yaml:"upstream_timeout" env:"GATEHOUSE_UPSTREAM_TIMEOUT"`
	// BreakerFailures consecutive failures of an upstream (transport
	// errors, 502, 503, 504) open its circuit: calls get 503
	// unavailable/circuit_open for BreakerOpenFor (the first pause; it was
	// the fixed pause before half-open probing), then up to 3 probe calls go
	// through; one success closes the circuit, a failure opens it again
	// for twice the previous pause, at most BreakerMaxPause. An API's
	// --breaker-* options override each one.
	BreakerFailures int           `yaml:"breaker_failures" env:"GATEHOUSE_BREAKER_FAILURES"`
	BreakerOpenFor  time.Duration `yaml:"breaker_open_for" env:"GATEHOUSE_BREAKER_OPEN_FOR"`
	BreakerMaxPause time.Duration `yaml:"breaker_max_pause" env:"GATEHOUSE_BREAKER_MAX_PAUSE"`
	// BodyReadTimeout bounds the time a request body on the public
	// listener may take to arrive once its headers are read; a client
	// that stalls mid-body is answered 408 and its connection closed.
	BodyReadTimeout time.Duration `yaml:"body_read_timeout" env:"GATEHOUSE_BODY_READ_TIMEOUT"`
	// RedisURL selects the shared Redis limiter (redis://…), so every node
	// enforces one budget per subscription. Empty means in-memory limits
	// (one node).
	RedisURL string `yaml:"redis_url" env:"GATEHOUSE_REDIS_URL"`
	// LimiterFailClosed answers 503 when Redis cannot be reached; false
	// (the default) decides the call with this node's share of the rate,
	// counts it against the quotas when Redis is back, logs and counts it.
	LimiterFailClosed bool `yaml:"limiter_fail_closed" env:"GATEHOUSE_LIMITER_FAIL_CLOSED"`
	// LimiterTimeout bounds one Redis limiter decision. A slower answer is
	// a failure (handled as limiter_fail_closed says, and Redis is asked
	// again a second later); a slow answer within it is not.
	LimiterTimeout time.Duration `yaml:"limiter_timeout" env:"GATEHOUSE_LIMITER_TIMEOUT"`
	// LimiterNodes is the number of nodes sharing Redis, whose share of
	// each rate a node enforces while Redis is unreachable. 0 (the
	// default) counts the live nodes through heartbeats in Redis.
	LimiterNodes int `yaml:"limiter_nodes" env:"GATEHOUSE_LIMITER_NODES"`
	// UsageFlushInterval is how often call counts are written to the
	// database; a crash loses at most this much.
	UsageFlushInterval time.Duration `yaml:"usage_flush_interval" env:"GATEHOUSE_USAGE_FLUSH_INTERVAL"`
	// UsageFlushTimeout bounds the last usage flush at shutdown, which
	// starts once the listeners are drained: its own time, not what is
	// left of ShutdownTimeout. Counts it cannot write by then are logged
	// with their number and the process exits 1.
	UsageFlushTimeout time.Duration `yaml:"usage_flush_timeout" env:"GATEHOUSE_USAGE_FLUSH_TIMEOUT"`
	// UsageMaxBuckets bounds the distinct usage buckets (app, API, hour,
	// status, error) held in memory while the database refuses the
	// counts; a call for a new bucket past it is dropped, logged with the
	// number dropped, and makes the process exit 1 at shutdown.
	UsageMaxBuckets int `yaml:"usage_max_buckets" env:"GATEHOUSE_USAGE_MAX_BUCKETS"`
	// RequestLogRetention is how long each gateway call's record is kept
	// for the portal's request log (/portal/logs) and its diagnosis by
	// correlator; older records are deleted in bounded batches every
	// minute. At least one hour.
	RequestLogRetention time.Duration `yaml:"request_log_retention" env:"GATEHOUSE_REQUEST_LOG_RETENTION"`
	// TokenRatePerClient and TokenRatePerAddress are the token endpoint's
	// abuse limits in requests per second (burst twice that), per
	// authenticated client and per source address; 0 turns one off.
	TokenRatePerClient  int `yaml:"token_rate_per_client" env:"GATEHOUSE_TOKEN_RATE_PER_CLIENT"`
	TokenRatePerAddress int `yaml:"token_rate_per_address" env:"GATEHOUSE_TOKEN_RATE_PER_ADDRESS"`
	// SignInRatePerAddress limits end-user sign-in attempts per source
	// address (per second, bursts of ten times that); 0 turns it off.
	// Behind a reverse proxy every attempt comes from the proxy's address:
	// raise it there. Each account is limited too (10 attempts, then one
	// per 10 s), whatever this says.
	SignInRatePerAddress int `yaml:"signin_rate_per_address" env:"GATEHOUSE_SIGNIN_RATE_PER_ADDRESS"`
	// NetworkLogin lets end users be identified "by the network" from a
	// phone number, as the sandbox does (and lets CIBA and JWT bearer
	// requests name any sandbox line). Turn it off in production, where
	// subscribers sign in with a password.
	NetworkLogin bool `yaml:"network_login" env:"GATEHOUSE_NETWORK_LOGIN"`
	// RequirePKCE requires PKCE (S256) of confidential clients too, as
	// OAuth 2.1 does; public clients always need it.
	RequirePKCE bool `yaml:"require_pkce" env:"GATEHOUSE_REQUIRE_PKCE"`
	// ShutdownTimeout bounds how long in-flight requests may take to
	// finish after SIGINT/SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" env:"GATEHOUSE_SHUTDOWN_TIMEOUT"`
	// ShutdownIdleGrace is how long, once shutdown began, a keep-alive
	// connection that went idle stays open for one more request (answered
	// with Connection: close) before it is closed, so that a client about
	// to reuse it is answered rather than cut off. It is part of
	// ShutdownTimeout.
	ShutdownIdleGrace time.Duration `yaml:"shutdown_idle_grace" env:"GATEHOUSE_SHUTDOWN_IDLE_GRACE"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level" env:"GATEHOUSE_LOG_LEVEL"`
	// TrustedProxies lists the reverse proxies (IP addresses or CIDR
	// prefixes, comma-separated) whose X-Forwarded-For gatehouse believes:
	// behind them, the client's address — for the per-address limits, the
	// logs and the upstream's X-Forwarded-For — is the nearest address in
	// X-Forwarded-For that is not a trusted proxy. Empty trusts none.
	TrustedProxies string `yaml:"trusted_proxies" env:"GATEHOUSE_TRUSTED_PROXIES"`
	// Profiling serves Go's runtime profiles (net/http/pprof) on the admin
	// listener under /debug/pprof/, behind the admin token. Off by default:
	// a CPU profile costs the process while it runs.
	Profiling bool `yaml:"profiling" env:"GATEHOUSE_PROFILING"`
	// Portal serves the developer portal (/, /portal/…, /static/…,
	// /llms.txt) on the public listener. false leaves those paths to the
	// gateway's 404.
	Portal bool `yaml:"portal" env:"GATEHOUSE_PORTAL"`
	// PortalApproveSignups makes new developer accounts wait for an
	// operator's approval (admin API) before they can sign in.
	PortalApproveSignups bool `yaml:"portal_approve_signups" env:"GATEHOUSE_PORTAL_APPROVE_SIGNUPS"`
	// WebhookAllowPrivate lets organisations' webhooks reach loopback and
	// private addresses, and plain http (development only): by default a
	// webhook must be https to a public address.
	WebhookAllowPrivate bool `yaml:"webhook_allow_private" env:"GATEHOUSE_WEBHOOK_ALLOW_PRIVATE"`
	// PortalName is the operator's name in the portal's header and titles.
	PortalName string `yaml:"portal_name" env:"GATEHOUSE_PORTAL_NAME"`
	// PortalLogo is an SVG or PNG file shown beside the name; empty means
	// the built-in mark.
	PortalLogo string `yaml:"portal_logo" env:"GATEHOUSE_PORTAL_LOGO"`
	// PortalAccent and PortalAccentDark are the CSS colours of links and
	// buttons in the light and dark themes.
	PortalAccent     string `yaml:"portal_accent" env:"GATEHOUSE_PORTAL_ACCENT"`
	PortalAccentDark string `yaml:"portal_accent_dark" env:"GATEHOUSE_PORTAL_ACCENT_DARK"`
	// SMTPURL is the mail server of the portal's e-mail (sign-up
	// verification, password reset, invitations):
	// smtp://[USER:PASSWORD@]HOST:PORT, upgraded with STARTTLS whenever the
	// server offers it (and refused to send the credentials otherwise,
	// unless HOST is loopback), or smtps://[USER:PASSWORD@]HOST[:PORT] for
	// TLS from the first byte (port 465 by default). ?from=ADDRESS in it
	// wins over SMTPFrom. Empty means each message is written to the log
	// at INFO instead, its link included: fine for development, not where
	// others read the logs. Load checks the form (CheckSMTPURL); the
	// mail package refuses the rest at start-up.
	SMTPURL string `yaml:"smtp_url" env:"GATEHOUSE_SMTP_URL"`
	// SMTPFrom is the From address of the portal's e-mail, with or
	// without a display name. Empty means the portal's name (gatehouse
	// when PortalName is empty) at noreply@ the issuer's host: see
	// MailFrom.
	SMTPFrom string `yaml:"smtp_from" env:"GATEHOUSE_SMTP_FROM"`
}

// Default returns the configuration gatehouse runs with when nothing is set.
func Default() Config {
	return Config{
		PublicAddr:           "127.0.0.1:8080",
		AdminAddr:            "127.0.0.1:8081",
		Issuer:               "http://localhost:8080",
		DataDir:              "gatehouse-data",
		AccessTokenTTL:       3599 * time.Second,
		SecretRotationGrace:  24 * time.Hour,
		KeyRetention:         7 * 24 * time.Hour,
		MaxURIBytes:          8 << 10,
		MaxHeaderBytes:       16 << 10,
		MaxFormBytes:         64 << 10,
		StoreTimeout:         2 * time.Second,
		UpstreamTimeout:      10 * time.Second,
		BodyReadTimeout:      10 * time.Second,
		BreakerFailures:      5,
		BreakerOpenFor:       250 * time.Millisecond,
		BreakerMaxPause:      30 * time.Second,
		LimiterTimeout:       2 * time.Second,
		UsageFlushInterval:   time.Second,
		UsageFlushTimeout:    10 * time.Second,
		UsageMaxBuckets:      100_000,
		RequestLogRetention:  30 * 24 * time.Hour,
		TokenRatePerClient:   100,
		TokenRatePerAddress:  300,
		SignInRatePerAddress: 5,
		NetworkLogin:         true,
		ShutdownTimeout:      15 * time.Second,
		ShutdownIdleGrace:    time.Second,
		LogLevel:             "info",
		Portal:               true,
	}
}

// Load builds the configuration: defaults, then the YAML file at path (when
// path is not empty), then environment variables read through getenv.
func Load(path string, getenv func(string) string) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		// An empty file decodes to io.EOF: it simply overrides nothing.
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	if err := c.applyEnv(getenv); err != nil {
		return c, err
	}
	return c, c.validate()
}

func (c *Config) applyEnv(getenv func(string) string) error {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name := t.Field(i).Tag.Get("env")
		raw := getenv(name)
		if name == "" || raw == "" {
			continue
		}
		f := v.Field(i)
		switch f.Interface().(type) {
		case string:
			f.SetString(raw)
		case time.Duration:
			d, err := time.ParseDuration(raw)
			if err != nil {
				return fmt.Errorf("config: %s=%q: want a duration such as 30s or 1h", name, raw)
			}
			f.SetInt(int64(d))
		case bool:
			b, err := strconv.ParseBool(raw)
			if err != nil {
				return fmt.Errorf("config: %s=%q: want true or false", name, raw)
			}
			f.SetBool(b)
		case int, int64:
			n, err := strconv.ParseInt(raw, 10, 64)
			if err != nil {
				return fmt.Errorf("config: %s=%q: want a whole number", name, raw)
			}
			f.SetInt(n)
		}
	}
	return nil
}

func (c *Config) validate() error {
	u, err := url.Parse(c.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("config: issuer %q must be an http(s) URL with no query or fragment (RFC 8414 §2)", c.Issuer)
	}
	if h := u.Hostname(); u.Scheme == "http" && h != "localhost" && h != "127.0.0.1" && h != "::1" {
		return fmt.Errorf("config: issuer %q must use https: passwords, codes and tokens would cross the network in clear (plain http is for loopback only)", c.Issuer)
	}
	c.Issuer = strings.TrimSuffix(c.Issuer, "/")
	switch {
	case c.AccessTokenTTL < time.Second:
		return fmt.Errorf("config: access_token_ttl %s is too short", c.AccessTokenTTL)
	case c.TokenRatePerClient < 0 || c.TokenRatePerAddress < 0 || c.SignInRatePerAddress < 0:
		return errors.New("config: token_rate_per_client, token_rate_per_address and signin_rate_per_address must be 0 (off) or positive")
	case c.BodyReadTimeout < 10*time.Millisecond:
		return fmt.Errorf("config: body_read_timeout %s is too short", c.BodyReadTimeout)
	case c.BreakerFailures < 1 || c.BreakerFailures > 1000:
		return fmt.Errorf("config: breaker_failures %d must be between 1 and 1000", c.BreakerFailures)
	case c.BreakerOpenFor < 10*time.Millisecond || c.BreakerOpenFor > time.Hour:
		return fmt.Errorf("config: breaker_open_for %s must be between 10ms and 1h", c.BreakerOpenFor)
	case c.BreakerMaxPause < c.BreakerOpenFor || c.BreakerMaxPause > 24*time.Hour:
		return fmt.Errorf("config: breaker_max_pause %s must be between breaker_open_for (%s) and 24h", c.BreakerMaxPause, c.BreakerOpenFor)
	case c.StoreTimeout < 10*time.Millisecond || c.StoreTimeout > 10*time.Minute:
		return fmt.Errorf("config: store_timeout %s must be between 10ms and 10m", c.StoreTimeout)
	case c.LimiterTimeout < 10*time.Millisecond:
		return fmt.Errorf("config: limiter_timeout %s is too short", c.LimiterTimeout)
	case c.LimiterNodes < 0:
		return errors.New("config: limiter_nodes must be 0 (count them through Redis) or positive")
	case c.UsageFlushInterval < 10*time.Millisecond:
		return fmt.Errorf("config: usage_flush_interval %s is too short", c.UsageFlushInterval)
	case c.UsageFlushTimeout < 10*time.Millisecond:
		return fmt.Errorf("config: usage_flush_timeout %s is too short", c.UsageFlushTimeout)
	case c.UsageMaxBuckets < 1:
		return errors.New("config: usage_max_buckets must be positive")
	case c.RequestLogRetention < time.Hour:
		return fmt.Errorf("config: request_log_retention %s must be at least 1h", c.RequestLogRetention)
	case c.ShutdownIdleGrace < 0 || c.ShutdownIdleGrace > c.ShutdownTimeout:
		return fmt.Errorf("config: shutdown_idle_grace %s must be between 0 and shutdown_timeout (%s)", c.ShutdownIdleGrace, c.ShutdownTimeout)
	case c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://"):
		return fmt.Errorf("config: redis_url %q must be a redis:// or rediss:// URL", c.RedisURL)
	case c.MaxURIBytes < 256 || c.MaxHeaderBytes < 1024 || c.MaxFormBytes < 1024:
		return errors.New("config: max_uri_bytes ≥ 256, max_header_bytes ≥ 1024 and max_form_bytes ≥ 1024 are required")
	}
	if err := CheckDatabaseURL(c.DatabaseURL); err != nil {
		return err
	}
	if err := CheckSMTPURL(c.SMTPURL); err != nil {
		return err
	}
	if c.SMTPFrom != "" {
		if a, err := mail.ParseAddress(c.SMTPFrom); err != nil || strings.ContainsAny(c.SMTPFrom, "\r\n") {
			return fmt.Errorf("config: smtp_from (GATEHOUSE_SMTP_FROM) %q is not one e-mail address, such as noreply@example.com or \"Acme <noreply@example.com>\"", c.SMTPFrom)
		} else if !isASCII(a.Address) {
			return fmt.Errorf("config: smtp_from (GATEHOUSE_SMTP_FROM) %q: internationalized addresses are not supported", c.SMTPFrom)
		}
	}
	if _, err := c.TrustedProxyPrefixes(); err != nil {
		return err
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	return c.checkSecrets()
}

// TrustedProxyPrefixes parses TrustedProxies; a bare address is a /32 or
// /128 prefix.
func (c *Config) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(c.TrustedProxies, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("config: trusted_proxies: %q is neither an IP address nor a CIDR prefix such as 10.0.0.0/8", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// MinSecretLength is the shortest system secret or admin token accepted:
// 32 characters of a base64 or hex random string carry at least 128 bits.
// Every key gatehouse derives (signing-key encryption, sessions, CSRF,
// pairwise subjects) is only as strong as the system secret.
const MinSecretLength = 32

// checkSecrets refuses operator-chosen secrets too short to be random
// enough; unset ones are generated later (EnsureSecrets).
func (c *Config) checkSecrets() error {
	for _, s := range []struct{ name, env, value string }{
		{"secret", "GATEHOUSE_SECRET", c.Secret},
		{"admin_token", "GATEHOUSE_ADMIN_TOKEN", c.AdminToken},
	} {
		if s.value != "" && len(s.value) < MinSecretLength {
			return fmt.Errorf("config: %s (%s) is %d characters; at least %d are required, from a random source: "+
				"generate one with `openssl rand -base64 32`, or leave it unset to have one generated into the data directory",
				s.name, s.env, len(s.value), MinSecretLength)
		}
	}
	return nil
}

// Database returns the database URL, defaulting to the SQLite file in
// DataDir.
func (c *Config) Database() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return "sqlite:" + filepath.Join(c.DataDir, "gatehouse.db")
}

// DatabaseURLForms lists the accepted forms of database_url, for messages.
const DatabaseURLForms = "postgres://USER@HOST:PORT/DB, postgresql://USER@HOST:PORT/DB, " +
	"sqlite:RELATIVE/PATH.db or sqlite:///ABSOLUTE/PATH.db (empty means the SQLite file in data_dir)"

// CheckDatabaseURL accepts an empty URL (the embedded default), a
// postgres:// or postgresql:// URL, and sqlite: followed by a file path
// (sqlite:./data/gatehouse.db, sqlite:/abs/gatehouse.db,
// sqlite:///abs/gatehouse.db). Anything else, a bare path included, is an
// error naming the accepted forms: a mistyped value must stop the start-up,
// not create a SQLite file named after the typo.
func CheckDatabaseURL(raw string) error {
	lower := strings.ToLower(raw)
	switch {
	case raw == "":
		return nil
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		if _, err := url.Parse(raw); err != nil {
			return fmt.Errorf("config: database_url (GATEHOUSE_DATABASE_URL) is not a valid URL: %v; accepted forms: %s", redactedErr(err), DatabaseURLForms)
		}
		return nil
	case strings.HasPrefix(lower, "sqlite:"):
		path := strings.TrimPrefix(raw[len("sqlite:"):], "//")
		if path == "" || strings.ContainsAny(path, "?#") {
			return fmt.Errorf("config: database_url (GATEHOUSE_DATABASE_URL) %q names no SQLite file (or carries parameters, which are not taken); accepted forms: %s", raw, DatabaseURLForms)
		}
		return nil
	}
	shown := raw
	if strings.Contains(raw, "@") {
		shown = "(value hidden: it may hold a password)"
	}
	return fmt.Errorf("config: database_url (GATEHOUSE_DATABASE_URL) %s is not a database URL gatehouse accepts; accepted forms: %s", shown, DatabaseURLForms)
}

// SMTPURLForms lists the accepted forms of smtp_url, for messages.
const SMTPURLForms = "smtp://[USER:PASSWORD@]HOST:PORT or smtps://[USER:PASSWORD@]HOST[:PORT], " +
	"optionally with ?from=ADDRESS (empty means e-mail is written to the log)"

// CheckSMTPURL accepts an empty URL (e-mail to the log) and an smtp:// or
// smtps:// URL naming a host. Anything else is an error naming the
// accepted forms and hiding the password; what the form does not show
// (ports, parameters, the sender address) the mail package checks when it
// opens the URL.
func CheckSMTPURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		detail := redactedErr(err)
		if strings.Contains(raw, "@") {
			// "invalid URL escape "%zz"" may quote a piece of the password.
			detail = "(details hidden: they may quote the password)"
		}
		return fmt.Errorf("config: smtp_url (GATEHOUSE_SMTP_URL) is not a valid URL: %s; accepted forms: %s", detail, SMTPURLForms)
	}
	if s := strings.ToLower(u.Scheme); s != "smtp" && s != "smtps" || u.Hostname() == "" {
		return fmt.Errorf("config: smtp_url (GATEHOUSE_SMTP_URL) %s is not an SMTP server URL; accepted forms: %s", u.Redacted(), SMTPURLForms)
	}
	return nil
}

// MailFrom returns the From address of the portal's e-mail: SMTPFrom
// when set, otherwise the portal's name (gatehouse when PortalName is
// empty) at noreply@ the issuer's host — "gatehouse <noreply@localhost>"
// by default, "Acme <noreply@api.acme.example>" for an issuer
// https://api.acme.example and portal name Acme. An issuer on an IP
// address gives noreply@localhost, which mail servers beyond this machine
// refuse: set smtp_from there.
func (c *Config) MailFrom() string {
	if c.SMTPFrom != "" {
		return c.SMTPFrom
	}
	host := "localhost"
	if u, err := url.Parse(c.Issuer); err == nil && u.Hostname() != "" {
		if _, err := netip.ParseAddr(u.Hostname()); err != nil {
			host = u.Hostname()
		}
	}
	name := c.PortalName
	if name == "" {
		name = "gatehouse"
	}
	a := mail.Address{Name: name, Address: "noreply@" + host}
	if strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ") == "" {
		// Letters, digits and spaces need no quotes (RFC 5322 §3.2.5).
		return name + " <" + a.Address + ">"
	}
	return a.String()
}

// isASCII reports whether s is all ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// redactedErr is err's text without the URL url.Parse quotes in it, which
// may hold a password.
func redactedErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// EnsureSecrets fills Secret and AdminToken from DataDir, generating and
// saving them (mode 0600) on first use, so that serve and every operator
// command share them without configuration.
func (c *Config) EnsureSecrets() error {
	var err error
	if c.Secret == "" {
		if c.Secret, err = c.fileSecret("secret"); err != nil {
			return err
		}
	}
	if c.AdminToken == "" {
		if c.AdminToken, err = c.fileSecret("admin-token"); err != nil {
			return err
		}
	}
	// A secret file written by hand is held to the same rule.
	return c.checkSecrets()
}

// AdminTokenPath is where the generated admin token is kept.
func (c *Config) AdminTokenPath() string { return filepath.Join(c.DataDir, "admin-token") }

func (c *Config) fileSecret(name string) (string, error) {
	path := filepath.Join(c.DataDir, name)
	if b, err := os.ReadFile(path); err == nil {
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, nil
		}
		return "", fmt.Errorf("config: %s is empty; write the secret into it, or delete it to have a new one generated", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("config: reading %s: %w", path, err)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	s := base64.RawURLEncoding.EncodeToString(b[:])
	// Write a temporary file, then link it into place: the link fails if
	// another process won the race on first start, and a reader never sees
	// a half-written secret.
	tmp, err := os.CreateTemp(c.DataDir, "."+name+"-*")
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", fmt.Errorf("config: %w", err)
	}
	if _, err := tmp.WriteString(s + "\n"); err != nil {
		tmp.Close()
		return "", fmt.Errorf("config: writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("config: writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("config: writing %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, os.ErrExist) {
		return c.fileSecret(name)
	} else if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	return s, nil
}
