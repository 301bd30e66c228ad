package server

import (
	"context"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/health"
	"gatehouse/internal/oauth"
	"gatehouse/internal/ratelimit"
	"gatehouse/internal/requestlog"
	"gatehouse/internal/store/sqlstore"
	"gatehouse/internal/testhttp"
	"gatehouse/internal/testproc"
)

// testPlatform is a platform built as `gatehouse serve` builds it
// (OpenParts, then Build) over real parts: a real store (SQLite in a
// temporary directory unless the configuration names another database),
// real signing keys, the in-memory limiter (without serve's saving of its
// quota counts, which cmd/gatehouse tests across restarts). Its public and
// admin handlers are served by httptest on loopback the way serve serves
// them (NewHTTPServer on Listener). It stops at the end of the test.
type testPlatform struct {
	t     *testing.T
	cfg   config.Config
	parts *Parts
	// Issuer is the public listener's base URL, Admin the admin one's.
	Issuer, Admin string
	// logs is the platform's log: warnings and errors, unless the
	// configuration asks for more.
	logs *testproc.Buffer
	// calls is the request log's recorder: flushCalls writes its records.
	calls *requestlog.Recorder
	// server is the platform's server (its admin routes, for their
	// OpenAPI document's test).
	server *Server
}

// flushCalls writes the gateway calls recorded so far to the request log,
// as the recorder's next periodic flush would.
func (tp *testPlatform) flushCalls() {
	tp.t.Helper()
	if err := tp.calls.Flush(context.Background()); err != nil {
		tp.t.Fatalf("flushing the request log: %v", err)
	}
}

// newTestPlatform builds and serves a platform on the defaults, with its
// own data directory; tweak, when not nil, changes the configuration
// first.
func newTestPlatform(t *testing.T, tweak func(c *config.Config)) *testPlatform {
	t.Helper()
	return newTestPlatformAt(t, tweak, nil)
}

// newTestPlatformAt is newTestPlatform with the clock of the limits, usage
// and portal (Parts.Now); nil means time.Now.
func newTestPlatformAt(t *testing.T, tweak func(c *config.Config), now func() time.Time) *testPlatform {
	t.Helper()
	public, admin := httptest.NewUnstartedServer(nil), httptest.NewUnstartedServer(nil)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.PublicAddr, cfg.AdminAddr = public.Listener.Addr().String(), admin.Listener.Addr().String()
	cfg.Issuer = "http://" + cfg.PublicAddr
	cfg.LogLevel = "warn"
	if tweak != nil {
		tweak(&cfg)
	}
	if err := cfg.EnsureSecrets(); err != nil {
		t.Fatal(err)
	}

	// Cleanups run last-registered first: the listeners stop, then the
	// last usage counts are written, then background work stops, and the
	// store closes last.
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlstore.Open(ctx, cfg.Database())
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	t.Cleanup(cancel)
	tracker := health.NewTracker(nil)
	st.Timeout = cfg.StoreTimeout
	st.Observe = tracker.ObserveStore
	parts, err := OpenParts(ctx, cfg, st, tracker)
	if err != nil {
		t.Fatal(err)
	}
	parts.Now = now
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	logs := &testproc.Buffer{}
	pl, err := Build(ctx, parts, ratelimit.NewMemory(), slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.UsageFlushTimeout)
		defer cancel()
		if err := pl.Usage.Close(ctx); err != nil {
			t.Errorf("writing the last usage counts: %v", err)
		}
		if err := pl.RequestLog.Close(ctx); err != nil {
			t.Errorf("writing the last request log records: %v", err)
		}
	})

	drain := &Drain{Grace: cfg.ShutdownIdleGrace}
	errorLog := log.New(logs, "", 0)
	for _, l := range []struct {
		hs *httptest.Server
		h  http.Handler
	}{{public, pl.Server.Public()}, {admin, pl.Server.Admin()}} {
		l.hs.Config = NewHTTPServer(l.h, errorLog, drain)
		l.hs.Listener = Listener(drain.Listener(l.hs.Listener), pl.Render)
		l.hs.Start()
		t.Cleanup(l.hs.Close)
	}
	return &testPlatform{t: t, cfg: cfg, parts: parts, Issuer: public.URL, Admin: admin.URL, logs: logs, calls: pl.RequestLog, server: pl.Server}
}

// adminToken is the admin token the platform generated in its data
// directory (or the one the configuration set).
func (tp *testPlatform) adminToken() string { return tp.cfg.AdminToken }

// client is a registered client's credentials.
type client struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

// createClient registers a confidential client with the given scopes
// through the manager that `gatehouse clients create` calls.
func (tp *testPlatform) createClient(name string, scopes ...string) client {
	tp.t.Helper()
	spec := oauth.ClientSpec{Name: &name}
	if len(scopes) > 0 {
		spec.Scopes = &scopes
	}
	v, err := tp.parts.Clients.Create(context.Background(), spec)
	if err != nil {
		tp.t.Fatalf("creating the client %q: %v", name, err)
	}
	return client{ID: v.ClientID, Secret: v.ClientSecret}
}

// adminCall sends a request to the admin listener (testhttp.Call).
func (tp *testPlatform) adminCall(method, path, token, contentType, body string) (*http.Response, []byte) {
	tp.t.Helper()
	return testhttp.Call(tp.t, method, tp.Admin+path, token, contentType, body)
}

// post sends a form to a public path (testhttp.PostForm).
func (tp *testPlatform) post(path string, form url.Values, id, secret string, headers ...string) *http.Response {
	tp.t.Helper()
	return testhttp.PostForm(tp.t, tp.Issuer+path, form, id, secret, headers...)
}

// token gets a client_credentials access token (testhttp.Token).
func (tp *testPlatform) token(c client, scope string) string {
	tp.t.Helper()
	return testhttp.Token(tp.t, tp.Issuer, c.ID, c.Secret, scope)
}

// tokenStatus requests a client_credentials token (testhttp.TokenStatus).
func (tp *testPlatform) tokenStatus(id, secret string) (int, map[string]any, http.Header) {
	tp.t.Helper()
	return testhttp.TokenStatus(tp.t, tp.Issuer, id, secret)
}

// send performs r on the public listener (testhttp.Send).
func (tp *testPlatform) send(t *testing.T, r testhttp.Request) (*http.Response, []byte) {
	t.Helper()
	return testhttp.Send(t, tp.Issuer, r)
}
