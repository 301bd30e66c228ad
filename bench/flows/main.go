// Command flows measures gatehouse's three-legged flows (issue #5) and
// checks refresh rotation under load:
//
//   - "authorization code": each worker signs a user in once (authorization
//     request, sign-in form, consent form, with cookies and PKCE S256), then
//     loops over a full exchange: GET /oauth2/authorize, answered at once
//     with a code because the session and its consent are remembered, then
//     POST /oauth2/token (authorization_code with the code_verifier). One
//     exchange is the two dependent requests; its latency is theirs together.
//   - "refresh": each worker gets its own refresh token family from one code
//     exchange (openid offline_access), then loops over refresh_token grants,
//     always with the newest refresh token. Any error is a correctness
//     failure. After the load it checks that no rotation was lost or
//     duplicated: every worker's newest token is accepted once more; with
//     gatehouse stopped, the database holds rotations+1 rows for each family
//     and exactly one of them live (not rotated, not revoked), the newest;
//     after a restart, reusing a rotated token is refused with
//     refresh_token_reused and revokes the family (RFC 9700 §4.14.2).
//
// It builds the gatehouse binary (or uses -gatehouse), starts it on loopback
// with a fresh data directory (SQLite) and, with -postgres, once more on a
// fresh schema that is dropped at the end; creates a user and a public
// client through the CLI, with the token endpoint's abuse limits off. The
// redirect URI is a loopback address nothing listens on: only the Location
// header is read. It prints one line per scenario, the CPU time of gatehouse
// and of this process (from /proc on Linux), and PASS or FAIL for the
// refresh check; it exits non-zero on FAIL.
//
//	go run ./bench/flows -c 32 -d 10s
//	go run ./bench/flows -postgres 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/bench/internal/loadtest"
)

// The users (one per worker, "bench-user-<n>", each with its own line),
// the client and what the client asks for.
const (
	password    = "bench-password-1"
	redirectURI = "http://127.0.0.1:9/callback" // the discard port: nothing answers, nothing is followed
	scope       = "openid offline_access"
)

// benchUser is worker i's user.
func benchUser(i int) string { return fmt.Sprintf("bench-user-%d", i) }

type options struct {
	workers   int
	dur, warm time.Duration
	pg, bin   string
	asJSON    bool
}

// errFailed is returned when the refresh check failed (after printing why).
var errFailed = errors.New("refresh rotation check FAILED")

func main() {
	var o options
	flag.IntVar(&o.workers, "c", 32, "workers (each one keep-alive connection, one signed-in browser, one refresh token family)")
	flag.DurationVar(&o.dur, "d", 10*time.Second, "measurement window per scenario")
	flag.DurationVar(&o.warm, "warmup", 2*time.Second, "warm-up per scenario (not counted in the figures; its rotations are checked)")
	flag.StringVar(&o.pg, "postgres", "", "also measure on this PostgreSQL URL (a fresh schema, dropped at the end)")
	flag.StringVar(&o.bin, "gatehouse", "", "gatehouse binary (default: build ./cmd/gatehouse)")
	flag.BoolVar(&o.asJSON, "json", false, "print results as JSON lines")
	flag.Parse()
	if o.workers <= 0 || o.dur <= 0 || o.warm < 0 {
		fmt.Fprintln(os.Stderr, "bench/flows: -c and -d must be positive, -warmup not negative")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/flows:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	tmp, err := os.MkdirTemp("", "gatehouse-flows-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if o.bin == "" {
		o.bin = filepath.Join(tmp, "gatehouse")
		build := exec.CommandContext(ctx, "go", "build", "-o", o.bin, "./cmd/gatehouse")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building gatehouse (run from the repository root): %w", err)
		}
	}
	type database struct{ name, url, schema string }
	databases := []database{{name: "sqlite"}}
	if o.pg != "" {
		schema := fmt.Sprintf("bench_flows_%d", time.Now().UnixNano())
		sep := "?"
		if strings.Contains(o.pg, "?") {
			sep = "&"
		}
		databases = append(databases, database{"postgres", o.pg + sep + "schema=" + schema, schema})
		defer dropSchema(o.pg, schema)
	}
	failed := false
	for _, db := range databases {
		var check dbCheck
		if db.url == "" {
			check = sqliteCheck(filepath.Join(tmp, db.name, "gatehouse.db"))
		} else {
			check = postgresCheck(o.pg, db.schema)
		}
		err := measure(ctx, o, filepath.Join(tmp, db.name), db.name, db.url, check)
		if errors.Is(err, errFailed) {
			failed = true
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", db.name, err)
		}
	}
	if failed {
		return errFailed
	}
	return nil
}

// measure runs both scenarios and the refresh check on one database.
func measure(ctx context.Context, o options, dataDir, dbName, dbURL string, check dbCheck) error {
	g := newGatehouse(o.bin, dataDir, dbURL)
	defer g.stop()
	if err := g.start(ctx); err != nil {
		return err
	}
	// One user per worker, as one person per browser: sign-in attempts
	// are throttled per account (10, then one per 10 s).
	for i := range o.workers {
		if _, err := g.cli(ctx, "users", "create", "--username", benchUser(i), "--password", password,
			"--phone", fmt.Sprintf("+3460%07d", 9000000+i)); err != nil {
			return err
		}
	}
	out, err := g.cli(ctx, "clients", "create", "--name", "bench flows", "--json", "--auth-method", "none",
		"--grant-types", "authorization_code refresh_token", "--redirect-uris", redirectURI, "--scopes", scope)
	if err != nil {
		return err
	}
	var client struct {
		ID string `json:"client_id"`
	}
	if err := json.Unmarshal(out, &client); err != nil || client.ID == "" {
		return fmt.Errorf("clients create printed %q: %v", out, err)
	}

	// Every worker signs in once and exchanges the code; the argon2id
	// verification of the password is not on the measured path.
	browsers := make([]*browser, o.workers)
	for i := range browsers {
		b := newBrowser(g.issuer, client.ID)
		code, verifier, err := b.signIn(ctx, benchUser(i), password)
		if err == nil {
			_, err = b.exchange(ctx, code, verifier)
		}
		if err != nil {
			return fmt.Errorf("worker %d signing in: %w", i, err)
		}
		browsers[i] = b
	}

	// Scenario 1: full authorization code exchanges.
	res, err := drive(ctx, g, o, "authorization code (authorize + token)", dbName, func(ctx context.Context, i int) (bool, error) {
		b := browsers[i]
		code, verifier, err := b.authorize(ctx)
		if err != nil {
			return false, err
		}
		tok, err := b.exchange(ctx, code, verifier)
		if err != nil {
			return false, err
		}
		if tok.IDToken == "" || tok.RefreshToken == "" {
			return false, fmt.Errorf("token: no ID token or refresh token for scope %q", scope)
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	report(res, o.asJSON)

	// Scenario 2: refresh rotation, one family per worker from one more
	// code exchange.
	fams := make([]*family, o.workers)
	for i, b := range browsers {
		code, verifier, err := b.authorize(ctx)
		if err != nil {
			return fmt.Errorf("worker %d: %w", i, err)
		}
		tok, err := b.exchange(ctx, code, verifier)
		if err != nil {
			return fmt.Errorf("worker %d: %w", i, err)
		}
		if tok.RefreshToken == "" {
			return fmt.Errorf("worker %d: no refresh token for scope %q", i, scope)
		}
		fams[i] = &family{first: tok.RefreshToken, current: tok.RefreshToken}
	}
	res, err = drive(ctx, g, o, "refresh_token rotation", dbName, func(ctx context.Context, i int) (bool, error) {
		// An error leaves the family in an unknown state: the worker stops.
		return true, fams[i].rotate(ctx, browsers[i])
	})
	if err != nil {
		return err
	}
	report(res, o.asJSON)

	rc := checkRefresh(ctx, g, browsers, fams, res, check)
	rc.Database = dbName
	rc.print(o.asJSON)
	if !rc.Pass {
		return errFailed
	}
	return nil
}

// gatehouse is the server under test.
type gatehouse struct {
	bin, issuer, admin string
	env                []string
	cmd                *exec.Cmd
}

func newGatehouse(bin, dataDir, dbURL string) *gatehouse {
	public, admin := freeAddr(), freeAddr()
	env := append(os.Environ(),
		"GATEHOUSE_DATA_DIR="+dataDir,
		"GATEHOUSE_PUBLIC_ADDR="+public,
		"GATEHOUSE_ADMIN_ADDR="+admin,
		"GATEHOUSE_ISSUER=http://"+public,
		"GATEHOUSE_LOG_LEVEL=error",
		// One client from one address drives all the load: the token
		// endpoint's abuse limits would only measure themselves.
		"GATEHOUSE_TOKEN_RATE_PER_CLIENT=0",
		"GATEHOUSE_TOKEN_RATE_PER_ADDRESS=0",
		"GATEHOUSE_SIGNIN_RATE_PER_ADDRESS=0",
		"GATEHOUSE_PROFILING=true", // costs nothing until a profile is asked for
	)
	if dbURL != "" {
		env = append(env, "GATEHOUSE_DATABASE_URL="+dbURL)
	}
	return &gatehouse{bin: bin, issuer: "http://" + public, admin: "http://" + admin, env: env}
}

// start starts gatehouse serve and waits until it is healthy.
func (g *gatehouse) start(ctx context.Context) error {
	if _, err := loadtest.CheckLoopbackURL(g.issuer); err != nil {
		return err
	}
	cmd := exec.Command(g.bin, "serve")
	cmd.Env = g.env
	cmd.Stderr = os.Stderr
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	g.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if resp, err := http.Get(g.admin + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.stop()
	return fmt.Errorf("gatehouse did not become healthy at %s", g.admin)
}

// stop stops gatehouse (SIGTERM, SIGKILL after 15 s) and waits for it.
func (g *gatehouse) stop() {
	if g.cmd == nil {
		return
	}
	cmd := g.cmd
	g.cmd = nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (g *gatehouse) pid() int {
	if g.cmd == nil {
		return -1
	}
	return g.cmd.Process.Pid
}

// cli runs a gatehouse command against the same configuration.
func (g *gatehouse) cli(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, g.bin, args...)
	cmd.Env = g.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("gatehouse %s: %w: %s", args[0]+" "+args[1], err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// dropSchema removes the schema a PostgreSQL run created.
func dropSchema(pg, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, connURL(pg))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/flows: dropping schema:", err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		fmt.Fprintln(os.Stderr, "bench/flows: dropping schema:", err)
	}
}

// connURL is pg without the pgxpool settings (pool_max_conns, ...), which
// a single connection would send to the server as unknown parameters.
func connURL(pg string) string {
	u, err := url.Parse(pg)
	if err != nil {
		return pg
	}
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}
