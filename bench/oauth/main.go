// Command oauth measures gatehouse's token endpoint (client_credentials with
// client_secret_basic) and introspection endpoint under load, on SQLite and,
// when -postgres is given, on PostgreSQL. It builds the gatehouse binary,
// starts it on loopback with a fresh data directory for each database, drives
// it with vegeta (bench/internal/loadtest), prints one line per scenario
// and stops it.
//
//	go run ./bench/oauth -c 32 -d 10s
//	go run ./bench/oauth -postgres 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/bench/internal/loadtest"
)

func main() {
	conns := flag.Int("c", 32, "connections")
	dur := flag.Duration("d", 10*time.Second, "measurement window per scenario")
	warm := flag.Duration("warmup", 2*time.Second, "warm-up per scenario (not counted)")
	pg := flag.String("postgres", "", "also measure on this PostgreSQL URL (a fresh schema is used)")
	bin := flag.String("gatehouse", "", "gatehouse binary (default: build ./cmd/gatehouse)")
	asJSON := flag.Bool("json", false, "print results as JSON lines")
	flag.Parse()

	if err := run(*bin, *pg, *conns, *dur, *warm, *asJSON); err != nil {
		fmt.Fprintln(os.Stderr, "bench/oauth:", err)
		os.Exit(1)
	}
}

func run(bin, pg string, conns int, dur, warm time.Duration, asJSON bool) error {
	tmp, err := os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if bin == "" {
		bin = filepath.Join(tmp, "gatehouse")
		build := exec.Command("go", "build", "-o", bin, "./cmd/gatehouse")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building gatehouse (run from the repository root): %w", err)
		}
	}
	databases := []struct{ name, url string }{{"sqlite", ""}}
	if pg != "" {
		schema := fmt.Sprintf("bench_%d", time.Now().UnixNano())
		sep := "?"
		if strings.Contains(pg, "?") {
			sep = "&"
		}
		databases = append(databases, struct{ name, url string }{"postgres", pg + sep + "schema=" + schema})
		defer dropSchema(pg, schema)
	}
	for _, db := range databases {
		if err := measure(bin, tmp, db.name, db.url, conns, dur, warm, asJSON); err != nil {
			return fmt.Errorf("%s: %w", db.name, err)
		}
	}
	return nil
}

func measure(bin, tmp, dbName, dbURL string, conns int, dur, warm time.Duration, asJSON bool) error {
	public, admin := freeAddr(), freeAddr()
	env := append(os.Environ(),
		"GATEHOUSE_DATA_DIR="+filepath.Join(tmp, dbName),
		"GATEHOUSE_PUBLIC_ADDR="+public,
		"GATEHOUSE_ADMIN_ADDR="+admin,
		"GATEHOUSE_ISSUER=http://"+public,
		"GATEHOUSE_LOG_LEVEL=error",
		// One client from one address drives all the load: the token
		// endpoint's abuse limits would only measure themselves.
		"GATEHOUSE_TOKEN_RATE_PER_CLIENT=0",
		"GATEHOUSE_TOKEN_RATE_PER_ADDRESS=0",
	)
	if dbURL != "" {
		env = append(env, "GATEHOUSE_DATABASE_URL="+dbURL)
	}
	srv := exec.Command(bin, "serve")
	srv.Env = env
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		_ = srv.Wait()
	}()
	if err := waitHealthy("http://" + admin + "/healthz"); err != nil {
		return err
	}

	create := exec.Command(bin, "clients", "create", "--name", "bench", "--scopes", "sim-swap:check", "--env")
	create.Env = env
	out, err := create.Output()
	if err != nil {
		return fmt.Errorf("clients create: %w", err)
	}
	creds := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			creds[k] = v
		}
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(creds["CLIENT_ID"])+":"+url.QueryEscape(creds["CLIENT_SECRET"])))
	header := http.Header{"Authorization": {basic}, "Content-Type": {"application/x-www-form-urlencoded"}}

	token, err := getToken("http://"+public+"/oauth2/token", header)
	if err != nil {
		return err
	}
	scenarios := []struct {
		label, path, body string
	}{
		{"token client_credentials basic " + dbName, "/oauth2/token", "grant_type=client_credentials"},
		{"introspect " + dbName, "/oauth2/introspect", "token=" + token},
	}
	for _, s := range scenarios {
		res, err := loadtest.Run(context.Background(), loadtest.Config{
			URL: "http://" + public + s.path, Method: http.MethodPost, Header: header, Body: []byte(s.body),
			Connections: conns, Duration: dur, Warmup: warm, ExpectStatus: http.StatusOK, Label: s.label,
		})
		if err != nil {
			return err
		}
		if asJSON {
			b, _ := json.Marshal(res)
			fmt.Println(string(b))
		} else {
			fmt.Printf("%-40s %8.0f req/s  p50 %-8s p99 %-8s errors %d (c=%d, %s)\n", s.label, res.RPS,
				res.Latency.P50.Round(10*time.Microsecond), res.Latency.P99.Round(10*time.Microsecond), res.Errors, conns, dur)
		}
	}
	return nil
}

// dropSchema removes the schema a PostgreSQL run created.
func dropSchema(pg, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/oauth: dropping schema:", err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
		fmt.Fprintln(os.Stderr, "bench/oauth: dropping schema:", err)
	}
}

func getToken(tokenURL string, header http.Header) (string, error) {
	req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader("grant_type=client_credentials"))
	req.Header = header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		return "", fmt.Errorf("getting a token: status %d, %v", resp.StatusCode, err)
	}
	return body.AccessToken, nil
}

func waitHealthy(u string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("gatehouse did not become healthy at %s", u)
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}
