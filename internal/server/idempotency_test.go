package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/config"
	"gatehouse/internal/store/storetest"
	"gatehouse/internal/testhttp"
	"gatehouse/internal/testproc"
)

// keyedPost sends an admin POST with an Idempotency-Key (testhttp.KeyedPost).
func (ts *testPlatform) keyedPost(c *http.Client, path, key, body string) (*http.Response, []byte, error) {
	ts.t.Helper()
	return testhttp.KeyedPost(ts.t, c, ts.Admin+path, ts.adminToken(), key, body)
}

// clientCount counts the clients through the manager that `gatehouse
// clients list` calls.
func (ts *testPlatform) clientCount(t *testing.T) int {
	t.Helper()
	list, err := ts.parts.Clients.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// TestIdempotencyKey: admin POSTs with an Idempotency-Key on SQLite: the
// same request is answered once and replayed, another request with the key
// is refused, a malformed key is refused, and no retry makes a second
// client.
func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	ts := newTestPlatform(t, nil)
	before := ts.clientCount(t)
	body := `{"name":"keyed","scopes":["sim-swap:check"]}`

	r1, b1, err := ts.keyedPost(nil, "/admin/clients", "8e03978e-40d5-43e8-bc93-6894a57f9324", body)
	if err != nil || r1.StatusCode != http.StatusCreated {
		t.Fatalf("first create: %v %v %s", r1, err, b1)
	}
	var c1 client
	testhttp.Unmarshal(t, "first create", b1, &c1)
	// The draft's form: an RFC 8941 string, quotes included.
	r2, b2, err := ts.keyedPost(nil, "/admin/clients", `"8e03978e-40d5-43e8-bc93-6894a57f9324"`, body)
	if err != nil || r2.StatusCode != http.StatusCreated || r2.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %v %v %s; want the 201 replayed", r2, err, b2)
	}
	if string(b1) != string(b2) || r2.Header.Get("Location") != r1.Header.Get("Location") || r2.Header.Get("Content-Type") != r1.Header.Get("Content-Type") {
		t.Errorf("replayed response differs:\n%s %v\n%s %v", b1, r1.Header, b2, r2.Header)
	}
	if c1.Secret == "" {
		t.Error("the created client has no secret to replay")
	}
	if n := ts.clientCount(t); n != before+1 {
		t.Errorf("%d clients after a create and its retry; want %d", n, before+1)
	}
	// The client works: the replayed secret is its secret.
	ts.token(c1, "")

	r, b, _ := ts.keyedPost(nil, "/admin/clients", "8e03978e-40d5-43e8-bc93-6894a57f9324", `{"name":"another"}`)
	testhttp.CheckProblem(t, "same key, another body", r, b, http.StatusUnprocessableEntity, "unprocessable_entity", "idempotency_key_reused")
	r, b, _ = ts.keyedPost(nil, "/admin/plans", "8e03978e-40d5-43e8-bc93-6894a57f9324", body)
	testhttp.CheckProblem(t, "same key, another path", r, b, http.StatusUnprocessableEntity, "unprocessable_entity", "idempotency_key_reused")
	for _, bad := range []string{strings.Repeat("k", 256), "tab\there", `""`} {
		r, b, _ = ts.keyedPost(nil, "/admin/clients", bad, body)
		testhttp.CheckProblem(t, "key "+bad, r, b, http.StatusBadRequest, "bad_request", "invalid_idempotency_key")
	}
	// A refused request is replayed as refused (4xx are kept).
	r, b, _ = ts.keyedPost(nil, "/admin/clients", "k-bad-body", `{"name":""}`)
	r2, b2, _ = ts.keyedPost(nil, "/admin/clients", "k-bad-body", `{"name":""}`)
	if r.StatusCode != http.StatusBadRequest || r2.StatusCode != r.StatusCode || string(b) != string(b2) || r2.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("a refused keyed request and its retry: %d %s / %d %s", r.StatusCode, b, r2.StatusCode, b2)
	}
	// Without the header nothing changes: two creates, two clients.
	ts.keyedPost(nil, "/admin/clients", "", body)
	ts.keyedPost(nil, "/admin/clients", "", body)
	if n := ts.clientCount(t); n != before+3 {
		t.Errorf("%d clients; want %d", n, before+3)
	}
}

// TestIdempotencyKeyCallerGaveUp on a private PostgreSQL cluster: the
// first attempt of a keyed create waits on a lock, its caller gives up;
// the retry while it runs gets 409 in progress; once it finished the retry
// gets its response; and a retry whose key was lost after the create was
// stored (the ambiguous commit) conflicts instead of creating a second
// client.
func TestIdempotencyKeyCallerGaveUp(t *testing.T) {
	t.Parallel()
	pgURL := testproc.StartPostgresT(t).URL()
	const schema = "gh_idem"
	ts := newTestPlatform(t, func(c *config.Config) {
		c.DatabaseURL = storetest.WithSchema(t, pgURL, schema)
		c.StoreTimeout = 60 * time.Second // the lock below, not the time limit, decides
	})
	before := storetest.PostgresCount(t, pgURL, schema, "clients")
	body := `{"name":"slow create"}`

	ctx := context.Background()
	lock, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close(ctx)
	tx, err := lock.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE "+pgx.Identifier{schema, "clients"}.Sanitize()+" IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}

	impatient := &http.Client{Timeout: 300 * time.Millisecond}
	if r, b, err := ts.keyedPost(impatient, "/admin/clients", "gave-up-1", body); err == nil {
		t.Fatalf("the first attempt answered while the table was locked: %d %s\n%s", r.StatusCode, b, ts.logs.String())
	} else if ue := new(interface{ Timeout() bool }); !errors.As(err, ue) || !(*ue).Timeout() {
		t.Fatalf("the first attempt: %v; want the caller's timeout", err)
	}
	// Wait until the server's insert is the one waiting on the lock.
	testhttp.Eventually(t, 30*time.Second, "the first attempt's insert to wait on the lock", func() bool {
		var n int
		err := lock.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO clients%'`).Scan(&n)
		return err == nil && n == 1
	})
	r, b, err := ts.keyedPost(nil, "/admin/clients", "gave-up-1", body)
	if err != nil {
		t.Fatal(err)
	}
	if p := testhttp.CheckProblem(t, "retry while the first attempt runs", r, b, http.StatusConflict, "conflict", "idempotency_key_in_progress"); p != nil && r.Header.Get("Retry-After") == "" {
		t.Error("409 in progress without Retry-After")
	}
	if err := tx.Commit(ctx); err != nil { // the lock goes, the first attempt completes
		t.Fatal(err)
	}
	var created client
	testhttp.Eventually(t, 30*time.Second, "the retry to get the first attempt's response", func() bool {
		r, b, err := ts.keyedPost(nil, "/admin/clients", "gave-up-1", body)
		if err != nil || r.StatusCode == http.StatusConflict {
			return false
		}
		if r.StatusCode != http.StatusCreated || r.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry after the first attempt finished: %d %s; want its 201 replayed", r.StatusCode, b)
		}
		testhttp.Unmarshal(t, "replayed create", b, &created)
		return true
	})
	if n := storetest.PostgresCount(t, pgURL, schema, "clients"); n != before+1 {
		t.Errorf("%d clients after the create the caller gave up on and its retries; want %d", n, before+1)
	}
	ts.token(created, "")

	// The ambiguous case: the create was stored but its key was not (a
	// commit whose answer never came, after which the key was released).
	r, b, _ = ts.keyedPost(nil, "/admin/clients", "ambiguous-1", `{"name":"ambiguous"}`)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", r.StatusCode, b)
	}
	var amb client
	testhttp.Unmarshal(t, "create", b, &amb)
	storetest.PostgresExec(t, pgURL, "DELETE FROM "+pgx.Identifier{schema, "idempotency_keys"}.Sanitize())
	r, b, _ = ts.keyedPost(nil, "/admin/clients", "ambiguous-1", `{"name":"ambiguous"}`)
	if p := testhttp.CheckProblem(t, "retry of a create stored without its key", r, b, http.StatusConflict, "already_exists", "duplicate"); p != nil &&
		!strings.Contains(string(b), amb.ID) {
		t.Errorf("the conflict does not name the client made by the first attempt (%s): %s", amb.ID, b)
	}
	if n := storetest.PostgresCount(t, pgURL, schema, "clients"); n != before+2 {
		t.Errorf("%d clients; want %d: the retry made a second client", n, before+2)
	}
}
