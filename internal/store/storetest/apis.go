package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// apiDocument is an OpenAPI document as an operator might import it: YAML
// with a byte order mark, CRLF line ends, tabs, non-ASCII text and
// trailing blank lines, all of which must survive byte for byte.
const apiDocument = "\ufeffopenapi: 3.0.3\r\ninfo:\r\n  title: SIM Swap\r\n  version: 2.0.0\r\n" +
	"  description: \"Détecte un changement de SIM — 日本語 🔑\"\r\npaths:\r\n" +
	"  /check:\r\n    post:\r\n\t\toperationId: checkSimSwap   \r\n\r\n\r\n"

// fullAPI returns an API with every field set; its base path is derived
// from name.
func fullAPI(name string) *store.API {
	return &store.API{
		Name:           name,
		Title:          "API " + name,
		Version:        "2.0.0",
		BasePath:       "/" + name + "/v2",
		UpstreamURL:    "https://upstream.example.com/" + name + "?tenant=a&x=<1>",
		Status:         store.APILive,
		ErrorMediaType: "application/problem+json",
		MaxBodyBytes:   1 << 20,
		Upstream: store.UpstreamOptions{
			CAPEM: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", ServerName: "backend.internal",
			ClientCertPEM: "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n", ClientKeySealed: []byte{0, 1, 2, 0xff},
			AllowUnderscoreHeaders: true, TryLive: true,
		},
		Lifecycle: store.APILifecycle{DeprecatedAt: at(2), SunsetAt: at(3), Successor: name + "-next"},
		Document:  []byte(apiDocument),
		CreatedAt: at(0),
		UpdatedAt: at(1),
	}
}

// largeDocument returns a JSON-looking document of at least n bytes that
// also holds every byte value, NUL and invalid UTF-8 included.
func largeDocument(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"openapi":"3.1.0","paths":{`)
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `"/resource-%06d/{id}":{"get":{"summary":"Ünïcödé résumé %d"}},`, i, i)
	}
	for c := range 256 {
		b.WriteByte(byte(c))
	}
	b.WriteString("}}\n")
	return b.Bytes()
}

func mustCreateAPI(t *testing.T, s store.Store, a *store.API) {
	t.Helper()
	if err := s.CreateAPI(t.Context(), a); err != nil {
		t.Fatalf("CreateAPI(%q): %v", a.Name, err)
	}
}

func mustGetAPI(t *testing.T, s store.Store, name string) *store.API {
	t.Helper()
	a, err := s.GetAPI(t.Context(), name)
	if err != nil {
		t.Fatalf("GetAPI(%q): %v", name, err)
	}
	return a
}

func mustListAPIs(t *testing.T, s store.Store) []*store.API {
	t.Helper()
	as, err := s.ListAPIs(t.Context())
	if err != nil {
		t.Fatalf("ListAPIs: %v", err)
	}
	return as
}

func mustGeneration(t *testing.T, s store.Store) int64 {
	t.Helper()
	g, err := s.APIsGeneration(t.Context())
	if err != nil {
		t.Fatalf("APIsGeneration: %v", err)
	}
	return g
}

// checkGeneration requires the APIs generation to be want; what says
// which calls should have brought it there.
func checkGeneration(t *testing.T, s store.Store, want int64, what string) {
	t.Helper()
	if got := mustGeneration(t, s); got != want {
		t.Errorf("APIsGeneration after %s = %d; want %d", what, got, want)
	}
}

// checkAPI reports every field of got that differs from want under the
// suite's rules.
func checkAPI(t *testing.T, got, want *store.API) {
	t.Helper()
	if got == nil {
		t.Fatalf("API %q: got nil", want.Name)
	}
	checkString(t, "Name", got.Name, want.Name)
	checkString(t, "Title", got.Title, want.Title)
	checkString(t, "Version", got.Version, want.Version)
	checkString(t, "BasePath", got.BasePath, want.BasePath)
	checkString(t, "UpstreamURL", got.UpstreamURL, want.UpstreamURL)
	checkString(t, "Status", got.Status, want.Status)
	checkString(t, "ErrorMediaType", got.ErrorMediaType, want.ErrorMediaType)
	if got.MaxBodyBytes != want.MaxBodyBytes {
		t.Errorf("MaxBodyBytes = %d; want %d", got.MaxBodyBytes, want.MaxBodyBytes)
	}
	if !reflect.DeepEqual(got.Upstream, want.Upstream) {
		t.Errorf("Upstream = %+v; want %+v", got.Upstream, want.Upstream)
	}
	checkTime(t, "Lifecycle.DeprecatedAt", got.Lifecycle.DeprecatedAt, want.Lifecycle.DeprecatedAt)
	checkTime(t, "Lifecycle.SunsetAt", got.Lifecycle.SunsetAt, want.Lifecycle.SunsetAt)
	checkString(t, "Lifecycle.Successor", got.Lifecycle.Successor, want.Lifecycle.Successor)
	checkDocument(t, got.Document, want.Document)
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

// checkDocument is checkBytes for documents too large to print whole.
func checkDocument(t *testing.T, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Errorf("Document: %d bytes; want %d bytes, first difference at byte %d", len(got), len(want), i)
	}
	if len(want) == 0 && got != nil {
		t.Errorf("Document = %#v; want nil for an empty value", got)
	}
}

// checkNotSentinel requires err to be an error that wraps none of the
// store's sentinels.
func checkNotSentinel(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error; want one", what)
		return
	}
	for _, sentinel := range []error{store.ErrNotFound, store.ErrConflict, store.ErrUnavailable} {
		if errors.Is(err, sentinel) {
			t.Errorf("%s: error %v wraps %v", what, err, sentinel)
		}
	}
}

func testAPIRoundTrip(t *testing.T, s store.Store) {
	checkGeneration(t, s, 0, "nothing")
	if as := mustListAPIs(t, s); len(as) != 0 {
		t.Fatalf("ListAPIs on an empty store: got %d APIs; want 0", len(as))
	}
	want := fullAPI("sim-swap")
	sent := *want
	mustCreateAPI(t, s, &sent)
	if !sent.CreatedAt.Equal(want.CreatedAt) || !sent.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("CreateAPI changed explicit timestamps to %v, %v; want %v, %v",
			sent.CreatedAt, sent.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
	checkAPI(t, mustGetAPI(t, s, "sim-swap"), want)
	as := mustListAPIs(t, s)
	if len(as) != 1 {
		t.Fatalf("ListAPIs: got %d APIs; want 1", len(as))
	}
	checkAPI(t, as[0], want)
	checkGeneration(t, s, 1, "one CreateAPI")
}

func testAPIEmptyValues(t *testing.T, s store.Store) {
	for _, a := range []*store.API{
		{Name: "nil-values", BasePath: "/nil"},
		{Name: "empty-values", BasePath: "/empty", Document: []byte{}},
	} {
		t.Run(a.Name, func(t *testing.T) {
			before := time.Now()
			if err := s.CreateAPI(t.Context(), a); err != nil {
				t.Fatalf("CreateAPI: %v", err)
			}
			after := time.Now()
			checkNow(t, "CreateAPI set CreatedAt", a.CreatedAt, before, after)
			if !a.UpdatedAt.Equal(a.CreatedAt) {
				t.Errorf("CreateAPI set UpdatedAt = %v; want CreatedAt %v", a.UpdatedAt, a.CreatedAt)
			}
			got := mustGetAPI(t, s, a.Name)
			checkAPI(t, got, &store.API{Name: a.Name, BasePath: a.BasePath, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt})
			if !got.CreatedAt.Equal(a.CreatedAt) {
				t.Errorf("stored CreatedAt = %v; want %v as written back", got.CreatedAt, a.CreatedAt)
			}
		})
	}
}

func testAPIValues(t *testing.T, s store.Store) {
	tests := []struct {
		name string
		a    store.API
	}{
		{"negative size", store.API{MaxBodyBytes: -1}},
		{"large size", store.API{MaxBodyBytes: 1<<63 - 1}},
		{"sandbox upstream", store.API{UpstreamURL: "sandbox:", Status: store.APISandbox}},
		{"maintenance", store.API{Status: store.APIMaintenance, ErrorMediaType: "application/vnd.camara.error+json; charset=utf-8"}},
		{"unicode", store.API{Title: "Géolocalisation 📍", Version: "v1.0.0-rc.1+build.7"}},
		{"quotes", store.API{Title: `it's "quoted" \ and 'single'`, UpstreamURL: `http://h/'; DROP TABLE apis; --`}},
		// Text fields cannot hold NUL (PostgreSQL text refuses it); the
		// document can.
		{"control characters", store.API{Title: "tab\there\nnew line\x7f\x01"}},
		{"one byte document", store.API{Document: []byte{0}}},
		{"JSON document", store.API{Document: []byte(`{"openapi":"3.1.0","info":{"title":"T","version":"1"},"paths":{}}`)}},
		{"trailing whitespace", store.API{Document: []byte("openapi: 3.1.0\n\n  \t\n")}},
		{"invalid UTF-8", store.API{Document: []byte("title: \xff\xfe\xc3\x28\x80")}},
		{"large document", store.API{Document: largeDocument(300 << 10)}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.a
			want.Name = fmt.Sprintf("api-%02d", i)
			want.BasePath = fmt.Sprintf("/values/%02d", i)
			want.CreatedAt, want.UpdatedAt = at(i), at(i)
			sent := want
			sent.Document = slices.Clone(want.Document)
			mustCreateAPI(t, s, &sent)
			checkAPI(t, mustGetAPI(t, s, want.Name), &want)

			// The document also survives an update that keeps it and one
			// that sets it.
			got, err := s.UpdateAPI(t.Context(), want.Name, func(a *store.API) error {
				checkDocument(t, a.Document, want.Document)
				a.Title += " (updated)"
				return nil
			})
			if err != nil {
				t.Fatalf("UpdateAPI: %v", err)
			}
			checkDocument(t, got.Document, want.Document)
			checkDocument(t, mustGetAPI(t, s, want.Name).Document, want.Document)
			got, err = s.UpdateAPI(t.Context(), want.Name, func(a *store.API) error {
				a.Document = slices.Clone(want.Document)
				return nil
			})
			if err != nil {
				t.Fatalf("UpdateAPI: %v", err)
			}
			checkDocument(t, got.Document, want.Document)
			checkDocument(t, mustGetAPI(t, s, want.Name).Document, want.Document)
		})
	}
	as := mustListAPIs(t, s)
	if len(as) != len(tests) {
		t.Fatalf("ListAPIs: got %d APIs; want %d", len(as), len(tests))
	}
	for i, a := range as {
		checkDocument(t, a.Document, tests[i].a.Document)
	}
}

func testAPITimePrecision(t *testing.T, s store.Store) {
	exact := time.Date(2031, 12, 31, 23, 59, 59, 123_456_789, cet)
	a := fullAPI("precise")
	a.CreatedAt, a.UpdatedAt = exact, exact
	mustCreateAPI(t, s, a)
	got := mustGetAPI(t, s, a.Name)
	for field, v := range map[string]time.Time{"CreatedAt": got.CreatedAt, "UpdatedAt": got.UpdatedAt} {
		if d := v.Sub(exact).Abs(); d >= time.Millisecond {
			t.Errorf("%s = %v; want within 1ms of %v (off by %v)", field, v, exact, d)
		}
		if v.Location() != time.UTC {
			t.Errorf("%s location = %v; want UTC", field, v.Location())
		}
	}
}

func testCreateAPIConflict(t *testing.T, s store.Store) {
	want := fullAPI("dup")
	mustCreateAPI(t, s, want)

	sameName := fullAPI("dup")
	sameName.BasePath = "/elsewhere"
	sameName.Title = "Impostor"
	if err := s.CreateAPI(t.Context(), sameName); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateAPI with a taken name: got %v; want an error wrapping store.ErrConflict", err)
	}
	samePath := fullAPI("other")
	samePath.BasePath = want.BasePath
	if err := s.CreateAPI(t.Context(), samePath); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateAPI with a taken base path: got %v; want an error wrapping store.ErrConflict", err)
	}
	if _, err := s.GetAPI(t.Context(), "other"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAPI of the API refused for its base path: got %v; want store.ErrNotFound", err)
	}
	checkAPI(t, mustGetAPI(t, s, "dup"), want)
	if as := mustListAPIs(t, s); len(as) != 1 {
		t.Errorf("ListAPIs: got %d APIs; want 1", len(as))
	}

	// Base paths are compared exactly: neighbours are not conflicts.
	for i, p := range []string{strings.ToUpper(want.BasePath), want.BasePath + "/", want.BasePath + "x", "/dup"} {
		a := fullAPI(fmt.Sprintf("near-%d", i))
		a.BasePath = p
		if err := s.CreateAPI(t.Context(), a); err != nil {
			t.Errorf("CreateAPI with base path %q next to %q: %v; want no error", p, want.BasePath, err)
		}
	}
}

func testGetAPINotFound(t *testing.T, s store.Store) {
	mustCreateAPI(t, s, fullAPI("exists"))
	for _, name := range []string{"missing", "", "EXISTS", "exists ", "/exists/v2"} {
		a, err := s.GetAPI(t.Context(), name)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetAPI(%q): got (%v, %v); want an error wrapping store.ErrNotFound", name, a, err)
		}
		if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrConflict) {
			t.Errorf("GetAPI(%q): error %v also wraps another sentinel", name, err)
		}
	}
}

func testListAPIs(t *testing.T, s store.Store) {
	// Byte order differs from most locales' order on these names (case,
	// punctuation, accents); creation times run opposite to it.
	names := []string{"b", "a-c", "ab", "B", "a_b", "a", "é", "z", "A", "a b", "aa"}
	want := map[string]*store.API{}
	for i, name := range names {
		a := fullAPI(name)
		a.BasePath = fmt.Sprintf("/list/%d", i)
		a.CreatedAt = at(len(names) - i)
		want[name] = a
		mustCreateAPI(t, s, a)
	}
	got := mustListAPIs(t, s)
	var gotNames []string
	for _, a := range got {
		gotNames = append(gotNames, a.Name)
	}
	sorted := slices.Clone(names)
	sort.Strings(sorted)
	if !slices.Equal(gotNames, sorted) {
		t.Fatalf("ListAPIs names = %q; want %q (byte order)", gotNames, sorted)
	}
	for _, a := range got {
		checkAPI(t, a, want[a.Name])
	}
}

func testUpdateAPI(t *testing.T, s store.Store) {
	orig := fullAPI("upd")
	mustCreateAPI(t, s, orig)
	gen := mustGeneration(t, s)

	want := fullAPI("upd")
	want.Title = "Renamed title"
	want.Version = "3.0.0"
	want.BasePath = "/upd/v3"
	want.UpstreamURL = "sandbox:"
	want.Status = store.APIMaintenance
	want.ErrorMediaType = "application/json"
	want.MaxBodyBytes = 0
	want.Document = largeDocument(120 << 10)

	before := time.Now()
	var called int
	got, err := s.UpdateAPI(t.Context(), "upd", func(a *store.API) error {
		called++
		checkAPI(t, a, orig) // update sees the stored API
		a.Title = want.Title
		a.Version = want.Version
		a.BasePath = want.BasePath
		a.UpstreamURL = want.UpstreamURL
		a.Status = want.Status
		a.ErrorMediaType = want.ErrorMediaType
		a.MaxBodyBytes = want.MaxBodyBytes
		a.Document = slices.Clone(want.Document)
		return nil
	})
	after := time.Now()
	if err != nil {
		t.Fatalf("UpdateAPI: %v", err)
	}
	if called != 1 {
		t.Errorf("update called %d times; want 1", called)
	}
	checkNow(t, "UpdatedAt", got.UpdatedAt, before, after)
	want.UpdatedAt = got.UpdatedAt
	checkAPI(t, got, want)
	stored := mustGetAPI(t, s, "upd")
	checkAPI(t, stored, want)
	if !stored.UpdatedAt.Equal(got.UpdatedAt) {
		t.Errorf("stored UpdatedAt = %v; want %v as returned by UpdateAPI", stored.UpdatedAt, got.UpdatedAt)
	}
	checkGeneration(t, s, gen+1, "one UpdateAPI")

	// The old base path is free again; keeping one's own base path is no
	// conflict, and an update that changes nothing still counts.
	mustCreateAPI(t, s, fullAPI("upd-2")) // BasePath /upd-2/v2
	moved := fullAPI("moved")
	moved.BasePath = orig.BasePath
	mustCreateAPI(t, s, moved)
	if _, err := s.UpdateAPI(t.Context(), "upd", func(*store.API) error { return nil }); err != nil {
		t.Errorf("UpdateAPI changing nothing: %v", err)
	}
	checkGeneration(t, s, gen+4, "UpdateAPI, two CreateAPI and an UpdateAPI changing nothing")
}

func testUpdateAPINotFound(t *testing.T, s store.Store) {
	mustCreateAPI(t, s, fullAPI("exists"))
	called := false
	_, err := s.UpdateAPI(t.Context(), "missing", func(*store.API) error {
		called = true
		return nil
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateAPI(missing): got %v; want an error wrapping store.ErrNotFound", err)
	}
	if called {
		t.Errorf("UpdateAPI(missing) called update")
	}
	checkGeneration(t, s, 1, "CreateAPI and a failed UpdateAPI")
}

func testUpdateAPIAbort(t *testing.T, s store.Store) {
	want := fullAPI("abort")
	mustCreateAPI(t, s, want)
	errAbort := errors.New("abort the update")
	got, err := s.UpdateAPI(t.Context(), "abort", func(a *store.API) error {
		a.Title = "changed"
		a.BasePath = "/changed"
		a.Document = append(a.Document, "extra"...)
		a.Status = store.APIMaintenance
		return fmt.Errorf("validating: %w", errAbort)
	})
	if !errors.Is(err, errAbort) {
		t.Errorf("UpdateAPI: got %v; want the update function's error", err)
	}
	if got != nil {
		t.Errorf("UpdateAPI returned API %+v with an error", got)
	}
	checkAPI(t, mustGetAPI(t, s, "abort"), want)
	checkGeneration(t, s, 1, "CreateAPI and an aborted UpdateAPI")
}

func testUpdateAPIConflict(t *testing.T, s store.Store) {
	a, b := fullAPI("a"), fullAPI("b")
	mustCreateAPI(t, s, a)
	mustCreateAPI(t, s, b)
	got, err := s.UpdateAPI(t.Context(), "b", func(x *store.API) error {
		x.Title = "changed"
		x.BasePath = a.BasePath
		return nil
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("UpdateAPI to a taken base path: got %v; want an error wrapping store.ErrConflict", err)
	}
	if got != nil {
		t.Errorf("UpdateAPI returned API %+v with an error", got)
	}
	checkAPI(t, mustGetAPI(t, s, "a"), a)
	checkAPI(t, mustGetAPI(t, s, "b"), b)
	checkGeneration(t, s, 2, "two CreateAPI and a conflicting UpdateAPI")
}

// testUpdateAPIRename checks that an update changing the name is refused,
// as a programming error rather than a sentinel, instead of silently
// writing another row or ignoring the change.
func testUpdateAPIRename(t *testing.T, s store.Store) {
	want := fullAPI("named")
	mustCreateAPI(t, s, want)
	for _, to := range []string{"other", "NAMED", ""} {
		got, err := s.UpdateAPI(t.Context(), "named", func(a *store.API) error {
			a.Name, a.Title = to, "Other"
			return nil
		})
		checkNotSentinel(t, fmt.Sprintf("UpdateAPI renaming to %q", to), err)
		if got != nil {
			t.Errorf("UpdateAPI returned API %+v with an error", got)
		}
		if _, err := s.GetAPI(t.Context(), to); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetAPI(%q) after a refused rename: got %v; want store.ErrNotFound", to, err)
		}
	}
	checkAPI(t, mustGetAPI(t, s, "named"), want)
	checkGeneration(t, s, 1, "CreateAPI and refused renames")
}

func testUpdateAPIConcurrent(t *testing.T, s store.Store) {
	mustCreateAPI(t, s, &store.API{Name: "busy", BasePath: "/busy", Document: []byte("paths:\n")})
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdateAPI(t.Context(), "busy", func(a *store.API) error {
				a.Document = fmt.Appendf(a.Document, "  /op-%02d: {}\n", i)
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent UpdateAPI: %v", err)
		}
	}
	lines := strings.Split(strings.TrimSuffix(string(mustGetAPI(t, s, "busy").Document), "\n"), "\n")
	want := []string{"paths:"}
	for i := range n {
		want = append(want, fmt.Sprintf("  /op-%02d: {}", i))
	}
	got := slices.Clone(lines)
	sort.Strings(got[1:])
	if !slices.Equal(got, want) {
		t.Errorf("after %d concurrent appends, Document lines = %q; want %q (lost updates)", n, lines, want)
	}
	checkGeneration(t, s, 1+n, fmt.Sprintf("CreateAPI and %d concurrent UpdateAPI", n))
}

func testDeleteAPI(t *testing.T, s store.Store) {
	mustCreateAPI(t, s, fullAPI("doomed"))
	mustCreateAPI(t, s, fullAPI("kept"))
	if err := s.DeleteAPI(t.Context(), "doomed"); err != nil {
		t.Fatalf("DeleteAPI: %v", err)
	}
	if _, err := s.GetAPI(t.Context(), "doomed"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAPI after DeleteAPI: got %v; want store.ErrNotFound", err)
	}
	for _, name := range []string{"doomed", "missing", ""} {
		if err := s.DeleteAPI(t.Context(), name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteAPI(%q) of a missing API: got %v; want store.ErrNotFound", name, err)
		}
	}
	checkAPI(t, mustGetAPI(t, s, "kept"), fullAPI("kept"))
	checkGeneration(t, s, 3, "two CreateAPI, one DeleteAPI and failed ones")
	// The name and the base path can be used again.
	mustCreateAPI(t, s, fullAPI("doomed"))
	checkGeneration(t, s, 4, "recreating the deleted API")
}

// testAPIsGeneration walks through every kind of call and checks that
// exactly the successful API writes count, once each.
func testAPIsGeneration(t *testing.T, s store.Store) {
	ctx := t.Context()
	errAbort := errors.New("abort")
	steps := []struct {
		name    string
		call    func() error
		wantErr error // nil for success, else what the error must wrap
		delta   int64 // how much the generation must grow
	}{
		{"CreateAPI", func() error { return s.CreateAPI(ctx, fullAPI("a")) }, nil, 1},
		{"CreateAPI another", func() error { return s.CreateAPI(ctx, fullAPI("b")) }, nil, 1},
		{"CreateAPI taken name", func() error { return s.CreateAPI(ctx, fullAPI("a")) }, store.ErrConflict, 0},
		{"GetAPI", func() error { _, err := s.GetAPI(ctx, "a"); return err }, nil, 0},
		{"ListAPIs", func() error { _, err := s.ListAPIs(ctx); return err }, nil, 0},
		{"UpdateAPI", func() error {
			_, err := s.UpdateAPI(ctx, "a", func(a *store.API) error { a.Status = store.APISandbox; return nil })
			return err
		}, nil, 1},
		{"UpdateAPI missing", func() error {
			_, err := s.UpdateAPI(ctx, "missing", func(*store.API) error { return nil })
			return err
		}, store.ErrNotFound, 0},
		{"UpdateAPI aborted", func() error {
			_, err := s.UpdateAPI(ctx, "a", func(*store.API) error { return errAbort })
			return err
		}, errAbort, 0},
		{"UpdateAPI base path taken", func() error {
			_, err := s.UpdateAPI(ctx, "a", func(a *store.API) error { a.BasePath = fullAPI("b").BasePath; return nil })
			return err
		}, store.ErrConflict, 0},
		{"DeleteAPI", func() error { return s.DeleteAPI(ctx, "b") }, nil, 1},
		{"DeleteAPI missing", func() error { return s.DeleteAPI(ctx, "b") }, store.ErrNotFound, 0},
		{"CreateClient", func() error { return s.CreateClient(ctx, fullClient("c")) }, nil, 0},
		{"UpdateClient", func() error {
			_, err := s.UpdateClient(ctx, "c", func(c *store.Client) error { c.Name = "x"; return nil })
			return err
		}, nil, 0},
		{"RotateSigningKey", func() error { return s.RotateSigningKey(ctx, key("k", 0)) }, nil, 0},
		{"DeleteAPI last", func() error { return s.DeleteAPI(ctx, "a") }, nil, 1},
	}
	gen := mustGeneration(t, s)
	if gen != 0 {
		t.Errorf("APIsGeneration of a new store = %d; want 0", gen)
	}
	for _, st := range steps {
		err := st.call()
		switch {
		case st.wantErr == nil && err != nil:
			t.Fatalf("%s: %v", st.name, err)
		case st.wantErr != nil && !errors.Is(err, st.wantErr):
			t.Fatalf("%s: got %v; want an error wrapping %v", st.name, err, st.wantErr)
		}
		gen += st.delta
		if got := mustGeneration(t, s); got != gen {
			t.Fatalf("APIsGeneration after %s = %d; want %d", st.name, got, gen)
		}
	}
	// Reading never counts, however often.
	for range 3 {
		checkGeneration(t, s, gen, "repeated reads")
	}
}

// testAPIsGenerationConcurrent races creates, some for the same base path,
// and checks that the generation counts exactly the ones that succeeded.
func testAPIsGenerationConcurrent(t *testing.T, s store.Store) {
	const n = 10
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			errs <- s.CreateAPI(t.Context(), fullAPI(fmt.Sprintf("own-%02d", i)))
		})
		wg.Go(func() {
			a := fullAPI(fmt.Sprintf("raced-%02d", i))
			a.BasePath = "/raced"
			errs <- s.CreateAPI(t.Context(), a)
		})
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("concurrent CreateAPI: got %v; want nil or store.ErrConflict", err)
		}
	}
	if ok != n+1 {
		t.Errorf("%d concurrent CreateAPI succeeded; want %d (every own base path, one of the shared)", ok, n+1)
	}
	if as := mustListAPIs(t, s); len(as) != ok {
		t.Errorf("ListAPIs: got %d APIs; want %d", len(as), ok)
	}
	checkGeneration(t, s, int64(ok), fmt.Sprintf("%d successful concurrent CreateAPI", ok))
}

// checkAPIsCanceled checks the API methods with a cancelled context; the
// store holds fullAPI("present").
func checkAPIsCanceled(t *testing.T, s store.Store) {
	t.Helper()
	mustCreateAPI(t, s, fullAPI("present"))
	gen := mustGeneration(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, name := range []string{"present", "missing"} {
		if _, err := s.GetAPI(ctx, name); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetAPI(%q) with a cancelled context: got %v; want an error that is not store.ErrNotFound", name, err)
		}
	}
	if _, err := s.UpdateAPI(ctx, "present", func(*store.API) error { return nil }); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateAPI with a cancelled context: got %v; want an error that is not store.ErrNotFound", err)
	}
	if err := s.DeleteAPI(ctx, "present"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteAPI with a cancelled context: got %v; want an error that is not store.ErrNotFound", err)
	}
	if err := s.CreateAPI(ctx, fullAPI("new")); err == nil {
		t.Errorf("CreateAPI with a cancelled context succeeded")
	}
	if _, err := s.APIsGeneration(ctx); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("APIsGeneration with a cancelled context: got %v; want an error that is not store.ErrNotFound", err)
	}
	checkAPI(t, mustGetAPI(t, s, "present"), fullAPI("present"))
	checkGeneration(t, s, gen, "calls with a cancelled context")
}

// testAPIVersions: creating an API records its document; an update that
// changes the document records the new one, one that does not records
// nothing; deleting the API deletes its history.
func testAPIVersions(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateAPI(t, s, fullAPI("hist"))
	if _, err := s.UpdateAPI(ctx, "hist", func(a *store.API) error { a.Status = store.APIMaintenance; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateAPI(ctx, "hist", func(a *store.API) error {
		a.Document, a.Version = []byte(apiDocument+"\n# v2\n"), "2.1.0"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	vs, err := s.ListAPIVersions(ctx, "hist")
	if err != nil || len(vs) != 2 || vs[0].Version != "2.0.0" || vs[1].Version != "2.1.0" ||
		string(vs[0].Document) != apiDocument || !strings.HasSuffix(string(vs[1].Document), "# v2\n") {
		t.Fatalf("ListAPIVersions = %d versions, %v; want 2.0.0 then 2.1.0", len(vs), err)
	}
	if err := s.DeleteAPI(ctx, "hist"); err != nil {
		t.Fatal(err)
	}
	if vs, err := s.ListAPIVersions(ctx, "hist"); err != nil || len(vs) != 0 {
		t.Errorf("ListAPIVersions after DeleteAPI = %d, %v; want none", len(vs), err)
	}
}
