package config

import (
	"net/mail"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// envOf returns a getenv reading m.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func noEnv(string) string { return "" }

// writeYAML writes a configuration file in a fresh directory.
func writeYAML(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaults(t *testing.T) {
	c, err := Load("", noEnv)
	if err != nil {
		t.Fatalf("Load with nothing set: %v", err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("Load with nothing set = %+v; want Default() = %+v", c, Default())
	}
	want := Config{
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
		UpstreamTimeout:      10 * time.Second,
		BreakerFailures:      5,
		BreakerOpenFor:       250 * time.Millisecond,
		BreakerMaxPause:      30 * time.Second,
		BodyReadTimeout:      10 * time.Second,
		LimiterTimeout:       2 * time.Second,
		StoreTimeout:         2 * time.Second,
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
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults = %+v; want the documented %+v", c, want)
	}
	if got, want := c.Database(), "sqlite:"+filepath.Join("gatehouse-data", "gatehouse.db"); got != want {
		t.Errorf("Database() = %q; want the SQLite file in the data dir, %q", got, want)
	}
	if got, want := c.AdminTokenPath(), filepath.Join("gatehouse-data", "admin-token"); got != want {
		t.Errorf("AdminTokenPath() = %q; want %q", got, want)
	}
	// No smtp_url: e-mail goes to the log, from noreply at the issuer's host.
	if got, want := c.MailFrom(), "gatehouse <noreply@localhost>"; got != want {
		t.Errorf("MailFrom() = %q; want %q", got, want)
	}
	// An empty file overrides nothing.
	c, err = Load(writeYAML(t, ""), noEnv)
	if err != nil || !reflect.DeepEqual(c, Default()) {
		t.Errorf("empty file: %+v, %v; want the defaults", c, err)
	}
	c, err = Load(writeYAML(t, "# only a comment\n"), noEnv)
	if err != nil || !reflect.DeepEqual(c, Default()) {
		t.Errorf("comment-only file: %+v, %v; want the defaults", c, err)
	}
}

const fullYAML = `
public_addr: 0.0.0.0:9000
admin_addr: 127.0.0.1:9001
issuer: https://auth.example.com/
data_dir: /var/lib/gatehouse
database_url: postgres://gh@db.internal/gatehouse
secret: yaml-secret-0123456789abcdef0123456789
admin_token: yaml-admin-token-0123456789abcdef01234
access_token_ttl: 5m
secret_rotation_grace: 2h
key_retention: 48h
request_log_retention: 168h
max_uri_bytes: 4096
max_header_bytes: 8192
max_form_bytes: 32768
shutdown_timeout: 3s
upstream_timeout: 4s
breaker_failures: 3
breaker_open_for: 500ms
breaker_max_pause: 10s
body_read_timeout: 3s
log_level: debug
portal: false
portal_name: Acme Telecom
portal_accent: "#c00000"
smtp_url: smtp://portal:pw@mail.example.com:587
smtp_from: Acme <noreply@acme.example>
`

func TestYAMLOverridesDefaults(t *testing.T) {
	c, err := Load(writeYAML(t, fullYAML), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		PublicAddr:           "0.0.0.0:9000",
		AdminAddr:            "127.0.0.1:9001",
		Issuer:               "https://auth.example.com", // trailing slash dropped
		DataDir:              "/var/lib/gatehouse",
		DatabaseURL:          "postgres://gh@db.internal/gatehouse",
		Secret:               "yaml-secret-0123456789abcdef0123456789",
		AdminToken:           "yaml-admin-token-0123456789abcdef01234",
		AccessTokenTTL:       5 * time.Minute,
		SecretRotationGrace:  2 * time.Hour,
		KeyRetention:         48 * time.Hour,
		RequestLogRetention:  168 * time.Hour,
		MaxURIBytes:          4096,
		MaxHeaderBytes:       8192,
		MaxFormBytes:         32768,
		UpstreamTimeout:      4 * time.Second,
		BreakerFailures:      3,
		BreakerOpenFor:       500 * time.Millisecond,
		BreakerMaxPause:      10 * time.Second,
		BodyReadTimeout:      3 * time.Second,
		LimiterTimeout:       2 * time.Second,
		StoreTimeout:         2 * time.Second,
		UsageFlushInterval:   time.Second,
		UsageFlushTimeout:    10 * time.Second,
		UsageMaxBuckets:      100_000,
		TokenRatePerClient:   100,
		TokenRatePerAddress:  300,
		SignInRatePerAddress: 5,
		NetworkLogin:         true,
		ShutdownTimeout:      3 * time.Second,
		ShutdownIdleGrace:    time.Second,
		LogLevel:             "debug",
		PortalName:           "Acme Telecom",
		PortalAccent:         "#c00000",
		SMTPURL:              "smtp://portal:pw@mail.example.com:587",
		SMTPFrom:             "Acme <noreply@acme.example>",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("from YAML:\n got %+v\nwant %+v", c, want)
	}
	if c.Database() != "postgres://gh@db.internal/gatehouse" {
		t.Errorf("Database() = %q; want database_url when set", c.Database())
	}

	// A partial file keeps the defaults of what it does not name.
	c, err = Load(writeYAML(t, "access_token_ttl: 10m\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want = Default()
	want.AccessTokenTTL = 10 * time.Minute
	if !reflect.DeepEqual(c, want) {
		t.Errorf("partial YAML: got %+v; want defaults with access_token_ttl 10m", c)
	}
}

func TestEnvOverridesYAML(t *testing.T) {
	path := writeYAML(t, fullYAML)
	env := map[string]string{
		"GATEHOUSE_PUBLIC_ADDR":           "127.0.0.1:7000",
		"GATEHOUSE_ADMIN_ADDR":            "127.0.0.1:7001",
		"GATEHOUSE_ISSUER":                "http://127.0.0.1:7000",
		"GATEHOUSE_DATA_DIR":              "/tmp/env-data",
		"GATEHOUSE_DATABASE_URL":          "sqlite:/tmp/env-data/other.db",
		"GATEHOUSE_SECRET":                "env-secret-0123456789abcdef0123456789ab",
		"GATEHOUSE_ADMIN_TOKEN":           "env-admin-token-0123456789abcdef0123456",
		"GATEHOUSE_ACCESS_TOKEN_TTL":      "90s",
		"GATEHOUSE_SECRET_ROTATION_GRACE": "1h30m",
		"GATEHOUSE_KEY_RETENTION":         "72h",
		"GATEHOUSE_REQUEST_LOG_RETENTION": "2h",
		"GATEHOUSE_MAX_URI_BYTES":         "2048",
		"GATEHOUSE_MAX_HEADER_BYTES":      "4096",
		"GATEHOUSE_MAX_FORM_BYTES":        "2048",
		"GATEHOUSE_SHUTDOWN_TIMEOUT":      "1s",
		"GATEHOUSE_SHUTDOWN_IDLE_GRACE":   "250ms",
		"GATEHOUSE_USAGE_FLUSH_TIMEOUT":   "3s",
		"GATEHOUSE_USAGE_MAX_BUCKETS":     "500",
		"GATEHOUSE_UPSTREAM_TIMEOUT":      "500ms",
		"GATEHOUSE_BODY_READ_TIMEOUT":     "250ms",
		"GATEHOUSE_BREAKER_FAILURES":      "8",
		"GATEHOUSE_BREAKER_OPEN_FOR":      "2s",
		"GATEHOUSE_BREAKER_MAX_PAUSE":     "1m",
		"GATEHOUSE_LIMITER_TIMEOUT":       "750ms",
		"GATEHOUSE_STORE_TIMEOUT":         "1500ms",
		"GATEHOUSE_LIMITER_NODES":         "3",
		"GATEHOUSE_LOG_LEVEL":             "error",
		"GATEHOUSE_PORTAL":                "true",
		"GATEHOUSE_PORTAL_NAME":           "Env Telecom",
		"GATEHOUSE_SMTP_URL":              "smtps://mail.env.example",
		"GATEHOUSE_SMTP_FROM":             "noreply@env.example",
	}
	c, err := Load(path, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		PublicAddr:           "127.0.0.1:7000",
		AdminAddr:            "127.0.0.1:7001",
		Issuer:               "http://127.0.0.1:7000",
		DataDir:              "/tmp/env-data",
		DatabaseURL:          "sqlite:/tmp/env-data/other.db",
		Secret:               "env-secret-0123456789abcdef0123456789ab",
		AdminToken:           "env-admin-token-0123456789abcdef0123456",
		AccessTokenTTL:       90 * time.Second,
		SecretRotationGrace:  90 * time.Minute,
		KeyRetention:         72 * time.Hour,
		RequestLogRetention:  2 * time.Hour,
		MaxURIBytes:          2048,
		MaxHeaderBytes:       4096,
		MaxFormBytes:         2048,
		UpstreamTimeout:      500 * time.Millisecond,
		BreakerFailures:      8,
		BreakerOpenFor:       2 * time.Second,
		BreakerMaxPause:      time.Minute,
		BodyReadTimeout:      250 * time.Millisecond,
		LimiterTimeout:       750 * time.Millisecond,
		LimiterNodes:         3,
		StoreTimeout:         1500 * time.Millisecond,
		UsageFlushInterval:   time.Second,
		UsageFlushTimeout:    3 * time.Second,
		UsageMaxBuckets:      500,
		TokenRatePerClient:   100,
		TokenRatePerAddress:  300,
		SignInRatePerAddress: 5,
		NetworkLogin:         true,
		ShutdownTimeout:      time.Second,
		ShutdownIdleGrace:    250 * time.Millisecond,
		LogLevel:             "error",
		Portal:               true,
		PortalName:           "Env Telecom",
		PortalAccent:         "#c00000", // from the YAML
		SMTPURL:              "smtps://mail.env.example",
		SMTPFrom:             "noreply@env.example",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("env over YAML:\n got %+v\nwant %+v", c, want)
	}

	// Every field's env tag is read: a variable left out keeps the file's
	// value.
	c, err = Load(path, envOf(map[string]string{"GATEHOUSE_LOG_LEVEL": "warn"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != "warn" || c.PublicAddr != "0.0.0.0:9000" || c.AccessTokenTTL != 5*time.Minute {
		t.Errorf("one variable set: %+v; want log_level from env and the rest from YAML", c)
	}

	// Every field has both names, so none can be set only one way.
	typ := reflect.TypeOf(Config{})
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if f.Tag.Get("yaml") == "" || !strings.HasPrefix(f.Tag.Get("env"), "GATEHOUSE_") {
			t.Errorf("field %s lacks a yaml key or a GATEHOUSE_ env variable", f.Name)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	t.Run("unknown YAML key", func(t *testing.T) {
		_, err := Load(writeYAML(t, "public_adr: 127.0.0.1:1\n"), noEnv)
		if err == nil || !strings.Contains(err.Error(), "public_adr") {
			t.Errorf("misspelled key: err = %v; want an error naming public_adr", err)
		}
	})
	t.Run("malformed YAML", func(t *testing.T) {
		_, err := Load(writeYAML(t, "public_addr: [\n"), noEnv)
		if err == nil {
			t.Error("malformed YAML accepted")
		}
	})
	t.Run("bad YAML duration", func(t *testing.T) {
		_, err := Load(writeYAML(t, "access_token_ttl: soon\n"), noEnv)
		if err == nil {
			t.Error("access_token_ttl: soon accepted")
		}
	})
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope.yaml")
		_, err := Load(path, noEnv)
		if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
			t.Errorf("missing file: err = %v; want an error naming the file", err)
		}
	})
	for _, tc := range []struct{ name, value string }{
		{"GATEHOUSE_ACCESS_TOKEN_TTL", "forever"},
		{"GATEHOUSE_ACCESS_TOKEN_TTL", "3600"}, // no unit
		{"GATEHOUSE_SECRET_ROTATION_GRACE", "1 day"},
		{"GATEHOUSE_KEY_RETENTION", "7d"},
		{"GATEHOUSE_SHUTDOWN_TIMEOUT", "-"},
		{"GATEHOUSE_MAX_URI_BYTES", "lots"},
		{"GATEHOUSE_MAX_HEADER_BYTES", "16k"},
		{"GATEHOUSE_MAX_FORM_BYTES", "1.5"},
	} {
		t.Run("env "+tc.name+"="+tc.value, func(t *testing.T) {
			_, err := Load("", envOf(map[string]string{tc.name: tc.value}))
			if err == nil {
				t.Fatalf("%s=%q accepted", tc.name, tc.value)
			}
			if !strings.Contains(err.Error(), tc.name) || !strings.Contains(err.Error(), tc.value) {
				t.Errorf("%s=%q: err = %q; want it to name the variable and the value", tc.name, tc.value, err)
			}
		})
	}
	for _, tc := range []struct{ yaml, names string }{
		{"breaker_failures: 0\n", "breaker_failures"},
		{"breaker_open_for: 1ms\n", "breaker_open_for"},
		{"breaker_open_for: 2h\n", "breaker_open_for"},
		{"breaker_open_for: 5s\nbreaker_max_pause: 2s\n", "breaker_max_pause"},
	} {
		t.Run("breaker "+tc.yaml, func(t *testing.T) {
			_, err := Load(writeYAML(t, tc.yaml), noEnv)
			if err == nil || !strings.Contains(err.Error(), tc.names) {
				t.Errorf("%q: err = %v; want it refused naming %s", tc.yaml, err, tc.names)
			}
		})
	}
	for _, issuer := range []string{
		"localhost:8080",            // no scheme
		"ftp://auth.example.com",    // not http(s)
		"https://",                  // no host
		"https:///path",             // no host
		"https://auth.example/?a=b", // query
		"https://auth.example/#top", // fragment
		"://bad",
	} {
		t.Run("issuer "+issuer, func(t *testing.T) {
			_, err := Load("", envOf(map[string]string{"GATEHOUSE_ISSUER": issuer}))
			if err == nil || !strings.Contains(err.Error(), "issuer") {
				t.Errorf("issuer %q: err = %v; want it rejected", issuer, err)
			}
			_, err = Load(writeYAML(t, "issuer: \""+issuer+"\"\n"), noEnv)
			if err == nil || !strings.Contains(err.Error(), "issuer") {
				t.Errorf("issuer %q in YAML: err = %v; want it rejected", issuer, err)
			}
		})
	}
	for _, tc := range []struct{ name, value, mention string }{
		{"GATEHOUSE_LOG_LEVEL", "verbose", "log_level"},
		{"GATEHOUSE_ACCESS_TOKEN_TTL", "500ms", "access_token_ttl"},
		{"GATEHOUSE_MAX_URI_BYTES", "10", "max_uri_bytes"},
	} {
		t.Run("invalid "+tc.name, func(t *testing.T) {
			_, err := Load("", envOf(map[string]string{tc.name: tc.value}))
			if err == nil || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("%s=%s: err = %v; want an error naming %s", tc.name, tc.value, err, tc.mention)
			}
		})
	}
	// Valid issuers, normalized without the trailing slash.
	for in, want := range map[string]string{
		"https://auth.example.com/":     "https://auth.example.com",
		"http://127.0.0.1:8080":         "http://127.0.0.1:8080",
		"https://example.com/gatehouse": "https://example.com/gatehouse",
	} {
		c, err := Load("", envOf(map[string]string{"GATEHOUSE_ISSUER": in}))
		if err != nil || c.Issuer != want {
			t.Errorf("issuer %q: got %q, %v; want %q", in, c.Issuer, err, want)
		}
	}
}

// TestDatabaseURLForms: only postgres://, postgresql:// and sqlite: are
// accepted; anything else (issue 9: GATEHOUSE_DATABASE_URL=nonsense created
// ./nonsense and started an empty platform) stops the start-up with an error
// naming the accepted forms, from the environment and from YAML alike.
func TestDatabaseURLForms(t *testing.T) {
	for _, ok := range []string{
		"postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		"postgresql://gh:pw@db.internal/gatehouse",
		"POSTGRES://gh@db/gatehouse",
		"sqlite:./gatehouse-data/gatehouse.db",
		"sqlite:gatehouse.db",
		"sqlite:/var/lib/gatehouse/gatehouse.db",
		"sqlite:///var/lib/gatehouse/gatehouse.db",
	} {
		c, err := Load("", envOf(map[string]string{"GATEHOUSE_DATABASE_URL": ok}))
		if err != nil {
			t.Errorf("GATEHOUSE_DATABASE_URL=%s: %v; want it accepted", ok, err)
		} else if c.Database() != ok {
			t.Errorf("Database() = %q; want %q", c.Database(), ok)
		}
	}
	for _, bad := range []string{
		"nonsense",
		"./gatehouse.db",
		"/var/lib/gatehouse/gatehouse.db",
		"file:gatehouse.db",
		"mysql://root@db/gatehouse",
		"postgre://gh@db/gatehouse",
		"sqlite:",
		"sqlite://",
		"sqlite:gatehouse.db?mode=ro",
	} {
		t.Run(bad, func(t *testing.T) {
			for _, load := range []func() error{
				func() error { _, err := Load("", envOf(map[string]string{"GATEHOUSE_DATABASE_URL": bad})); return err },
				func() error { _, err := Load(writeYAML(t, "database_url: \""+bad+"\"\n"), noEnv); return err },
			} {
				err := load()
				if err == nil {
					t.Fatalf("database URL %q accepted", bad)
				}
				for _, want := range []string{"GATEHOUSE_DATABASE_URL", "postgres://", "postgresql://", "sqlite:"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("err = %q; want it to name %s", err, want)
					}
				}
			}
		})
	}
	_, err := Load("", envOf(map[string]string{"GATEHOUSE_DATABASE_URL": "mysql://root:hunter2@db/x"}))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("err = %v; want a refusal that does not repeat the password", err)
	}
}

// readSecretFile returns a secret file's trimmed content and checks its mode.
func readSecretFile(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("secret file: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("%s has mode %o; want 0600", path, mode)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestEnsureSecrets(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not", "yet", "there")
	c := Default()
	c.DataDir = dir
	if err := c.EnsureSecrets(); err != nil {
		t.Fatal(err)
	}
	if len(c.Secret) < 32 || len(c.AdminToken) < 32 || c.Secret == c.AdminToken {
		t.Fatalf("generated secret %q and admin token %q; want two distinct long random values", c.Secret, c.AdminToken)
	}
	if got := readSecretFile(t, filepath.Join(dir, "secret")); got != c.Secret {
		t.Errorf("secret file holds %q; config has %q", got, c.Secret)
	}
	if got := readSecretFile(t, c.AdminTokenPath()); got != c.AdminToken {
		t.Errorf("admin-token file holds %q; config has %q", got, c.AdminToken)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("data dir: %v, mode %v; want it created without group/other access", err, fi.Mode())
	}

	// A second process (a CLI command) gets the same values; nothing is
	// rewritten.
	before, _ := os.ReadFile(filepath.Join(dir, "secret"))
	again := Default()
	again.DataDir = dir
	if err := again.EnsureSecrets(); err != nil {
		t.Fatal(err)
	}
	if again.Secret != c.Secret || again.AdminToken != c.AdminToken {
		t.Errorf("second EnsureSecrets: %q/%q; want the saved %q/%q", again.Secret, again.AdminToken, c.Secret, c.AdminToken)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "secret"))
	if string(before) != string(after) {
		t.Error("second EnsureSecrets rewrote the secret file")
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "admin-token secret" {
		t.Errorf("data dir holds %v; want exactly admin-token and secret (no temporary files left)", names)
	}

	// Configured values win and are not written to disk.
	other := Default()
	other.DataDir = t.TempDir()
	other.Secret, other.AdminToken = "configured-secret-0123456789abcdef01", "configured-token-0123456789abcdef0123"
	if err := other.EnsureSecrets(); err != nil {
		t.Fatal(err)
	}
	if other.Secret != "configured-secret-0123456789abcdef01" || other.AdminToken != "configured-token-0123456789abcdef0123" {
		t.Errorf("EnsureSecrets replaced configured values: %q/%q", other.Secret, other.AdminToken)
	}
	if entries, _ := os.ReadDir(other.DataDir); len(entries) != 0 {
		t.Errorf("EnsureSecrets wrote %d files although both values were configured", len(entries))
	}

	// A secret file written by an operator (with a trailing newline) is
	// used as it is.
	own := Default()
	own.DataDir = t.TempDir()
	if err := os.WriteFile(filepath.Join(own.DataDir, "secret"), []byte("operator-chosen-0123456789abcdef01\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := own.EnsureSecrets(); err != nil || own.Secret != "operator-chosen-0123456789abcdef01" {
		t.Errorf("operator's secret file: %q, %v; want operator-chosen", own.Secret, err)
	}
}

// TestEnsureSecretsConcurrent: processes starting together on a fresh data
// directory (serve and a CLI command, or two nodes) agree on one secret.
func TestEnsureSecretsConcurrent(t *testing.T) {
	for round := 0; round < 20; round++ {
		dir := filepath.Join(t.TempDir(), "data")
		const n = 8
		configs := make([]Config, n)
		errs := make([]error, n)
		var start, wg sync.WaitGroup
		start.Add(1)
		for i := range configs {
			configs[i] = Default()
			configs[i].DataDir = dir
			wg.Add(1)
			go func() {
				defer wg.Done()
				start.Wait()
				errs[i] = configs[i].EnsureSecrets()
			}()
		}
		start.Done()
		wg.Wait()
		for i := range configs {
			if errs[i] != nil {
				t.Fatalf("round %d: EnsureSecrets %d: %v", round, i, errs[i])
			}
			if configs[i].Secret != configs[0].Secret || configs[i].AdminToken != configs[0].AdminToken {
				t.Fatalf("round %d: concurrent EnsureSecrets disagree: %q/%q vs %q/%q", round,
					configs[i].Secret, configs[i].AdminToken, configs[0].Secret, configs[0].AdminToken)
			}
		}
		if got := readSecretFile(t, filepath.Join(dir, "secret")); got != configs[0].Secret {
			t.Fatalf("round %d: secret file %q differs from what every caller got, %q", round, got, configs[0].Secret)
		}
		if got := readSecretFile(t, filepath.Join(dir, "admin-token")); got != configs[0].AdminToken {
			t.Fatalf("round %d: admin-token file %q differs from what every caller got, %q", round, got, configs[0].AdminToken)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 2 {
			t.Fatalf("round %d: data dir holds %d entries; want 2 (no temporary files left)", round, len(entries))
		}
	}
}

// TestEnsureSecretsEmptyFile: an empty secret file (truncated by a crash or
// created by `touch`) must give an error or a usable secret.
func TestEnsureSecretsEmptyFile(t *testing.T) {
	c := Default()
	c.DataDir = t.TempDir()
	if err := os.WriteFile(filepath.Join(c.DataDir, "secret"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.EnsureSecrets() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "is empty") {
			t.Errorf("empty secret file: err = %v; want one saying the file is empty", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("EnsureSecrets does not return for an empty secret file")
	}
}

// TestTrustedProxies: addresses and CIDR prefixes, comma-separated, are
// parsed (a bare address is a one-address prefix); anything else is
// refused at load, naming the value.
func TestTrustedProxies(t *testing.T) {
	c, err := Load("", envOf(map[string]string{"GATEHOUSE_TRUSTED_PROXIES": " 10.0.0.0/8, 192.168.1.7 ,::1, 2001:db8::/32,"}))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := c.TrustedProxyPrefixes()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.String())
	}
	if strings.Join(got, " ") != "10.0.0.0/8 192.168.1.7/32 ::1/128 2001:db8::/32" {
		t.Errorf("prefixes = %v", got)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.internal", "10.0.0"} {
		if _, err := Load("", envOf(map[string]string{"GATEHOUSE_TRUSTED_PROXIES": bad})); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("trusted_proxies %q: err = %v; want it refused, naming the value", bad, err)
		}
	}
}

// TestShortSecretsRefused: an operator-chosen system secret or admin token
// shorter than MinSecretLength is refused, from the environment, the YAML
// file or a hand-written file in the data directory, with a message that
// says how to make a good one.
func TestShortSecretsRefused(t *testing.T) {
	short := strings.Repeat("x", MinSecretLength-1)
	for _, env := range []string{"GATEHOUSE_SECRET", "GATEHOUSE_ADMIN_TOKEN"} {
		_, err := Load("", envOf(map[string]string{env: short}))
		if err == nil || !strings.Contains(err.Error(), env) || !strings.Contains(err.Error(), "openssl rand") {
			t.Errorf("%s of %d characters: err = %v; want it refused, naming the variable and how to generate one", env, len(short), err)
		}
		if _, err := Load("", envOf(map[string]string{env: short + "x"})); err != nil {
			t.Errorf("%s of %d characters: %v; want it accepted", env, MinSecretLength, err)
		}
	}
	if _, err := Load(writeYAML(t, "secret: "+short+"\n"), noEnv); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Errorf("short secret in YAML: err = %v; want it refused", err)
	}
	c := Default()
	c.DataDir = t.TempDir()
	if err := os.WriteFile(filepath.Join(c.DataDir, "admin-token"), []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureSecrets(); err == nil || !strings.Contains(err.Error(), "admin_token") {
		t.Errorf("short admin-token file: err = %v; want it refused", err)
	}
}

// TestIssuerMustBeHTTPSBeyondLoopback: plain http is accepted for loopback
// issuers only.
func TestIssuerMustBeHTTPSBeyondLoopback(t *testing.T) {
	for issuer, ok := range map[string]bool{
		"https://auth.example.com": true,
		"http://localhost:8080":    true,
		"http://127.0.0.1:8080":    true,
		"http://auth.example.com":  false,
		"http://10.0.0.5:8080":     false,
	} {
		_, err := Load("", func(k string) string {
			if k == "GATEHOUSE_ISSUER" {
				return issuer
			}
			return ""
		})
		if (err == nil) != ok {
			t.Errorf("issuer %s: err = %v; want accepted: %v", issuer, err, ok)
		}
	}
}

// TestShutdownAndUsageLimits: the shutdown and usage options refuse values
// that cannot work.
func TestShutdownAndUsageLimits(t *testing.T) {
	for _, tc := range []struct{ yaml, names string }{
		{"usage_flush_timeout: 1ms\n", "usage_flush_timeout"},
		{"usage_max_buckets: 0\n", "usage_max_buckets"},
		{"request_log_retention: 59m\n", "request_log_retention"},
		{"shutdown_idle_grace: -1s\n", "shutdown_idle_grace"},
		{"shutdown_timeout: 2s\nshutdown_idle_grace: 3s\n", "shutdown_idle_grace"},
	} {
		_, err := Load(writeYAML(t, tc.yaml), noEnv)
		if err == nil || !strings.Contains(err.Error(), tc.names) {
			t.Errorf("%q: err = %v; want it refused naming %s", tc.yaml, err, tc.names)
		}
	}
	if _, err := Load(writeYAML(t, "shutdown_timeout: 2s\nshutdown_idle_grace: 0s\n"), noEnv); err != nil {
		t.Errorf("shutdown_idle_grace 0: %v; want it accepted", err)
	}
}

// TestSMTPOptions: smtp_url takes smtp:// and smtps:// URLs naming a host
// and refuses anything else without repeating its password; smtp_from is
// one address; MailFrom derives the sender from the portal's name and the
// issuer's host when smtp_from is not set.
func TestSMTPOptions(t *testing.T) {
	for _, ok := range []string{
		"smtp://127.0.0.1:25",
		"smtp://portal:hunter2@mail.example.com:587?from=portal@example.com",
		"SMTPS://mail.example.com",
		"smtps://portal:hunter2@[2001:db8::1]:465",
	} {
		c, err := Load("", envOf(map[string]string{"GATEHOUSE_SMTP_URL": ok}))
		if err != nil || c.SMTPURL != ok {
			t.Errorf("GATEHOUSE_SMTP_URL=%s: %q, %v; want it accepted", ok, c.SMTPURL, err)
		}
	}
	for _, bad := range []string{
		"mail.example.com:25",
		"mail.example.com",
		"http://portal:hunter2@mail.example.com:25",
		"smtp:mail.example.com:25",
		"smtp://portal:hunter2@",
		"smtp://portal:hunter2%zz@mail.example.com:25",
	} {
		for _, load := range []func() error{
			func() error { _, err := Load("", envOf(map[string]string{"GATEHOUSE_SMTP_URL": bad})); return err },
			func() error { _, err := Load(writeYAML(t, "smtp_url: \""+bad+"\"\n"), noEnv); return err },
		} {
			err := load()
			if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_SMTP_URL") || !strings.Contains(err.Error(), "smtps://") {
				t.Errorf("smtp_url %q: err = %v; want it refused, naming the accepted forms", bad, err)
			} else if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "%zz") {
				t.Errorf("smtp_url %q: err = %v repeats the password", bad, err)
			}
		}
	}
	for _, bad := range []string{"not an address", "a@b.example, c@d.example", "a@b.example\r\nBcc: c@d.example", "adä@b.example"} {
		if _, err := Load("", envOf(map[string]string{"GATEHOUSE_SMTP_FROM": bad})); err == nil || !strings.Contains(err.Error(), "smtp_from") {
			t.Errorf("GATEHOUSE_SMTP_FROM=%q: err = %v; want it refused", bad, err)
		}
	}
	for _, tc := range []struct{ issuer, name, from, want string }{
		{"http://localhost:8080", "", "", "gatehouse <noreply@localhost>"},
		{"https://api.acme.example/gatehouse", "Acme Telecom", "", "Acme Telecom <noreply@api.acme.example>"},
		{"https://api.acme.example", "Acme, Inc.", "", `"Acme, Inc." <noreply@api.acme.example>`},
		{"https://api.acme.example", "Café", "", "=?utf-8?q?Caf=C3=A9?= <noreply@api.acme.example>"},
		{"http://127.0.0.1:8080", "", "", "gatehouse <noreply@localhost>"},
		{"https://api.acme.example", "Acme", "Portal <portal@acme.example>", "Portal <portal@acme.example>"},
	} {
		c, err := Load("", envOf(map[string]string{"GATEHOUSE_ISSUER": tc.issuer, "GATEHOUSE_PORTAL_NAME": tc.name, "GATEHOUSE_SMTP_FROM": tc.from}))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.MailFrom(); got != tc.want {
			t.Errorf("issuer %s, portal_name %q, smtp_from %q: MailFrom() = %q; want %q", tc.issuer, tc.name, tc.from, got, tc.want)
		}
		if _, err := mail.ParseAddress(c.MailFrom()); err != nil {
			t.Errorf("MailFrom() = %q does not parse: %v", c.MailFrom(), err)
		}
	}
}
