package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/store/storetest"
	"gatehouse/internal/testhttp"
	"gatehouse/internal/testproc"
)

// TestFrozenPostgres: with PostgreSQL frozen (SIGSTOP: connections stay
// open, nothing answers), every request that needs the database ends with
// 503 and Retry-After once store_timeout passes, whatever the client:
// known and unknown clients alike at the token endpoint. /readyz reports
// it, a create the caller was told failed did not happen, and the node
// recovers by itself once the database thaws.
func TestFrozenPostgres(t *testing.T) {
	t.Parallel()
	pg := testproc.StartPostgresT(t)
	const schema = "gh_frozen"
	dbURL := storetest.WithSchema(t, pg.URL(), schema)
	// The time limit only says how soon a frozen database is noticed; it
	// must be far above what a query takes on a busy machine (where the
	// calls before the freeze took over 300 ms), or the test measures the
	// machine's load instead of the freeze.
	ts := startPGServer(t, dbURL, func(env map[string]string) {
		env["GATEHOUSE_STORE_TIMEOUT"] = "2s"
	})
	admin := adminTokenOf(t, ts)
	known := ts.createClient("known", "--scopes", "sim-swap:check")
	other := ts.createClient("other", "--scopes", "sim-swap:check")
	tok := ts.token(known, "")
	ts.token(known, "") // its record is in the node's cache
	before := storetest.PostgresCount(t, pg.URL(), schema, "clients")

	mustDo(t, pg.Freeze())
	frozenAt := time.Now()

	// A keyed create first, on a pooled connection still open: the
	// database may apply what was sent once it thaws, though the caller was
	// told 503.
	const keyedBody = `{"name":"keyed while frozen"}`
	r, body, err := ts.keyedPost(nil, "/admin/clients", "frozen-create-1", keyedBody)
	if err != nil {
		t.Fatal(err)
	}
	testhttp.CheckProblem(t, "keyed admin create while frozen", r, body, http.StatusServiceUnavailable, "unavailable", "store_unavailable")

	tokenOf := func(c client) (int, testhttp.OAuthError, http.Header) {
		resp := ts.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, c.Secret)
		var e testhttp.OAuthError
		testhttp.DecodeJSON(t, resp, &e)
		return resp.StatusCode, e, resp.Header
	}
	// The first request may still find a fresh cache entry (it lives a
	// second); once the store was seen failing, every client gets 503.
	start := time.Now()
	st, _, _ := tokenOf(other)
	t.Logf("first token request after the freeze: %d in %s", st, time.Since(start))
	testhttp.Eventually(t, 30*time.Second, "the token endpoint to answer 503 during the freeze", func() bool {
		st, _, _ := tokenOf(other)
		return st == http.StatusServiceUnavailable
	})
	var longest time.Duration
	for i := 0; i < 10; i++ {
		for _, c := range []client{known, other, {ID: "gh_unknown", Secret: "x"}} {
			start := time.Now()
			st, e, h := tokenOf(c)
			longest = max(longest, time.Since(start))
			if st != http.StatusServiceUnavailable || e.Error != "temporarily_unavailable" || e.Cause != "store_unavailable" || h.Get("Retry-After") == "" {
				t.Errorf("token request of %s while frozen: %d %+v Retry-After %q; want 503 temporarily_unavailable / store_unavailable with Retry-After",
					c.ID, st, e, h.Get("Retry-After"))
			}
		}
	}
	t.Logf("longest token request while frozen: %s", longest)

	resp := ts.post("/oauth2/revoke", url.Values{"token": {tok}}, known.ID, known.Secret)
	var e testhttp.OAuthError
	testhttp.DecodeJSON(t, resp, &e)
	if resp.StatusCode != http.StatusServiceUnavailable || e.Error != "temporarily_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("revocation while frozen: %d %+v; want 503 temporarily_unavailable with Retry-After", resp.StatusCode, e)
	}
	r, body = ts.adminCall("POST", "/admin/clients", admin, "application/json", `{"name":"while frozen"}`)
	if p := testhttp.CheckProblem(t, "admin create while frozen", r, body, http.StatusServiceUnavailable, "unavailable", "store_unavailable"); p != nil && r.Header.Get("Retry-After") == "" {
		t.Error("admin create while frozen: no Retry-After")
	}
	r, body = ts.adminCall("GET", "/readyz", "", "", "")
	testhttp.CheckProblem(t, "/readyz while frozen", r, body, http.StatusServiceUnavailable, "unavailable", "store_unavailable")
	t.Logf("frozen for %s", time.Since(frozenAt))

	mustDo(t, pg.Thaw())
	testhttp.Eventually(t, 30*time.Second, "/readyz to answer 200 after the thaw", func() bool {
		r, _ := ts.adminCall("GET", "/readyz", "", "", "")
		return r.StatusCode == http.StatusOK
	})
	testhttp.Eventually(t, 30*time.Second, "tokens to be issued again after the thaw", func() bool {
		st, _, _ := tokenOf(other)
		return st == http.StatusOK
	})
	// The create answered 503 without a key did not happen, not even once
	// the database read what was sent before the freeze.
	if n := storetest.PostgresCount(t, pg.URL(), schema, "clients"); n != before {
		t.Errorf("%d clients after the thaw, %d before the freeze: a create answered 503 happened", n, before)
	}
	// The keyed create, retried: made once. Its key may have been stored
	// in progress by the thawed database; the retry then gets 409 until
	// the key's lease passes, and takes it over.
	inProgress := 0
	testhttp.Eventually(t, 60*time.Second, "the keyed create's retry to succeed", func() bool {
		r, body, err := ts.keyedPost(nil, "/admin/clients", "frozen-create-1", keyedBody)
		if err != nil {
			t.Fatal(err)
		}
		switch r.StatusCode {
		case http.StatusCreated:
			return true
		case http.StatusConflict:
			testhttp.CheckProblem(t, "keyed retry after the thaw", r, body, http.StatusConflict, "conflict", "idempotency_key_in_progress")
			inProgress++
			return false
		}
		t.Fatalf("keyed retry after the thaw: %d %s", r.StatusCode, body)
		return false
	})
	t.Logf("keyed retries answered 409 in progress after the thaw: %d", inProgress)
	// Sent again, it is replayed. The database has just thawed and the
	// store's limit is 300 ms: on a busy machine a query can still miss
	// it, and the answer is then the documented 503 store_unavailable
	// with Retry-After, which a client answers by sending it again: what
	// must never come back is a second creation.
	testhttp.Eventually(t, 60*time.Second, "the keyed create sent again to be replayed", func() bool {
		r, body, err := ts.keyedPost(nil, "/admin/clients", "frozen-create-1", keyedBody)
		if err != nil {
			t.Fatal(err)
		}
		if r.StatusCode == http.StatusServiceUnavailable {
			testhttp.CheckProblem(t, "keyed create sent again", r, body, http.StatusServiceUnavailable, "unavailable", "store_unavailable")
			if r.Header.Get("Retry-After") == "" {
				t.Fatalf("503 without Retry-After: %s", body)
			}
			return false
		}
		if r.StatusCode != http.StatusCreated || r.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("keyed create sent again: %d %s; want the 201 replayed", r.StatusCode, body)
		}
		return true
	})
	var list struct {
		Clients []json.RawMessage `json:"clients"`
	}
	if err := json.Unmarshal([]byte(ts.cli("clients", "list", "--json")), &list); err != nil || len(list.Clients) != before+1 {
		t.Errorf("clients list after the thaw: %d clients, %v; want %d (the keyed create, once)", len(list.Clients), err, before+1)
	}

	// With no traffic at all, /readyz finds out by itself.
	mustDo(t, pg.Freeze())
	start = time.Now()
	r, body = ts.adminCall("GET", "/readyz", "", "", "")
	testhttp.CheckProblem(t, "/readyz, first request after a second freeze", r, body, http.StatusServiceUnavailable, "unavailable", "store_unavailable")
	t.Logf("/readyz answered %d %s after the second freeze", r.StatusCode, time.Since(start))
	mustDo(t, pg.Thaw())
}

// writeRefusedChecks drives the writes of a node whose database refuses
// them with cause (storage_full or storage_read_only): admin create and
// OAuth revocation answer 503 with that cause and Retry-After, /readyz
// reports it, the CLI says what happened locally, and tokens that need no
// write are still issued.
func writeRefusedChecks(t *testing.T, ts *testServer, c client, cause string) {
	t.Helper()
	admin := adminTokenOf(t, ts)
	for i := 0; ; i++ {
		r, body := ts.adminCall("POST", "/admin/clients", admin, "application/json", fmt.Sprintf(`{"name":"filler %d","redirect_uris":["https://app.example/%s"]}`, i, strings.Repeat("x", 1500)))
		if r.StatusCode == http.StatusCreated && i < 2000 {
			continue // the WAL may have room for a few more
		}
		if p := testhttp.CheckProblem(t, "admin create", r, body, http.StatusServiceUnavailable, "unavailable", cause); p != nil && r.Header.Get("Retry-After") == "" {
			t.Error("admin create: 503 without Retry-After")
		}
		break
	}
	r, body := ts.adminCall("GET", "/readyz", "", "", "")
	testhttp.CheckProblem(t, "/readyz while writes are refused", r, body, http.StatusServiceUnavailable, "unavailable", cause)

	for i := 0; ; i++ {
		tok := ts.token(c, "")
		resp := ts.post("/oauth2/revoke", url.Values{"token": {tok}}, c.ID, c.Secret)
		var e testhttp.OAuthError
		if resp.StatusCode == http.StatusOK && i < 200 {
			resp.Body.Close()
			continue
		}
		testhttp.DecodeJSON(t, resp, &e)
		if resp.StatusCode != http.StatusServiceUnavailable || e.Error != "temporarily_unavailable" || e.Cause != cause || resp.Header.Get("Retry-After") == "" {
			t.Errorf("revocation: %d %+v Retry-After %q; want 503 temporarily_unavailable / %s with Retry-After", resp.StatusCode, e, resp.Header.Get("Retry-After"), cause)
		}
		break
	}

	_, err := ts.tryCLI("clients", "create", "--name", "from the CLI")
	if err == nil || !strings.Contains(err.Error(), "unavailable/"+cause) || strings.Contains(err.Error(), "server side") {
		t.Errorf("CLI create: %v; want a local message naming unavailable/%s", err, cause)
	}
}

// TestSQLiteDiskFull: the data directory on a small tmpfs, filled up.
func TestSQLiteDiskFull(t *testing.T) {
	t.Parallel()
	disk := testproc.MountDiskT(t, "16m")
	data := filepath.Join(disk.Dir, "data")
	ts := startServer(t, func(env map[string]string) { env["GATEHOUSE_DATA_DIR"] = data })
	c := ts.createClient("app", "--scopes", "sim-swap:check")
	mustDo(t, disk.Fill())

	writeRefusedChecks(t, ts, c, "storage_full")

	mustDo(t, disk.Free())
	r, body := ts.adminCall("POST", "/admin/clients", adminTokenOf(t, ts), "application/json", `{"name":"after freeing space"}`)
	if r.StatusCode != http.StatusCreated {
		t.Errorf("admin create after freeing space: %d %s", r.StatusCode, body)
	}
	if r, body := ts.adminCall("GET", "/readyz", "", "", ""); r.StatusCode != http.StatusOK {
		t.Errorf("/readyz after a write succeeded again: %d %s", r.StatusCode, body)
	}
}

// TestPostgresReadOnly: the private cluster switched to
// default_transaction_read_only, as a standby or an operator's emergency
// brake refuses writes.
func TestPostgresReadOnly(t *testing.T) {
	t.Parallel()
	pg := testproc.StartPostgresT(t)
	ts := startPGServer(t, storetest.WithSchema(t, pg.URL(), "gh_readonly"), nil)
	c := ts.createClient("app", "--scopes", "sim-swap:check")

	storetest.PostgresExec(t, pg.URL(), `ALTER SYSTEM SET default_transaction_read_only = on`, `SELECT pg_reload_conf()`)
	testhttp.Eventually(t, 30*time.Second, "the cluster to refuse writes", func() bool {
		r, _ := ts.adminCall("POST", "/admin/clients", adminTokenOf(t, ts), "application/json", `{"name":"probe"}`)
		return r.StatusCode == http.StatusServiceUnavailable
	})
	writeRefusedChecks(t, ts, c, "storage_read_only")

	storetest.PostgresExec(t, pg.URL(), `SET default_transaction_read_only = off`, `ALTER SYSTEM RESET default_transaction_read_only`, `SELECT pg_reload_conf()`)
	testhttp.Eventually(t, 30*time.Second, "admin create to succeed once writable", func() bool {
		r, _ := ts.adminCall("POST", "/admin/clients", adminTokenOf(t, ts), "application/json", `{"name":"writable again"}`)
		return r.StatusCode == http.StatusCreated
	})
	if r, body := ts.adminCall("GET", "/readyz", "", "", ""); r.StatusCode != http.StatusOK {
		t.Errorf("/readyz once writable again: %d %s", r.StatusCode, body)
	}
}
