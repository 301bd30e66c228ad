package sqlstore

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/store"
)

func TestDecodeList(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{``, nil},
		{`[]`, nil},
		{`null`, nil},
		{`[ ]`, nil},
		{`[""]`, []string{""}},
		{`["a"]`, []string{"a"}},
		{`["a","b"]`, []string{"a", "b"}},
		{`["","",""]`, []string{"", "", ""}},
		{`[ "a" , "b" ]`, []string{"a", "b"}},
		{`["a\",\"b"]`, []string{`a","b`}},
		{`["\u0026","<>"]`, []string{"&", "<>"}},
		{`["日本","é"]`, []string{"日本", "é"}},
	}
	for _, tt := range tests {
		got, err := decodeList(tt.in)
		if err != nil {
			t.Errorf("decodeList(%q): %v", tt.in, err)
			continue
		}
		if !slices.Equal(got, tt.want) || (tt.want == nil) != (got == nil) {
			t.Errorf("decodeList(%q) = %#v; want %#v", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{`[`, `["a"`, `["a",]`, `{"a":1}`, `[1]`, `["a""b"]`, `"a"`} {
		if got, err := decodeList(bad); err == nil {
			t.Errorf("decodeList(%q) = %q; want an error", bad, got)
		}
	}
}

// FuzzDecodeList checks the fast path against encoding/json: whatever JSON
// accepts as a list of strings decodes to the same list, and every list
// round-trips through encodeList.
func FuzzDecodeList(f *testing.F) {
	for _, s := range []string{`["a","b"]`, `[""]`, `["a\"b"]`, `["\u00e9"]`, `["x","y","z"]`, `["a"]]`, `[["a"]`, "[\"\xff\"]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want []string
		jsonErr := json.Unmarshal([]byte(s), &want)
		got, err := decodeList(s)
		if jsonErr == nil && s != "" {
			if err != nil {
				t.Fatalf("decodeList(%q): %v; encoding/json accepts it", s, err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("decodeList(%q) = %q; encoding/json says %q", s, got, want)
			}
		}
		if err == nil && jsonErr != nil && s != "" {
			t.Fatalf("decodeList(%q) = %q; encoding/json rejects it: %v", s, got, jsonErr)
		}

		// Every list, including s's characters split up, round-trips.
		list := strings.Split(s, ",")
		enc := encodeList(list)
		back, err := decodeList(enc)
		if err != nil {
			t.Fatalf("decodeList(encodeList(%q)): %v", list, err)
		}
		if wantBack := jsonRoundTrip(t, list); !slices.Equal(back, wantBack) {
			t.Fatalf("decodeList(encodeList(%q)) = %q; want %q", list, back, wantBack)
		}
	})
}

// jsonRoundTrip returns l as encoding/json gives it back (invalid UTF-8
// becomes U+FFFD).
func jsonRoundTrip(t *testing.T, l []string) []string {
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func BenchmarkDecodeList(b *testing.B) {
	s := `["client_credentials","authorization_code","urn:openid:params:grant-type:ciba"]`
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			decodeList(s)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var l []string
			json.Unmarshal([]byte(s), &l)
		}
	})
}

func TestSQLitePath(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"/var/lib/gatehouse/g.db", "/var/lib/gatehouse/g.db"},
		{"data/g.db", "data/g.db"},
		{"sqlite:///var/lib/g.db", "/var/lib/g.db"},
		{"sqlite://data/g.db", "data/g.db"},
		{"SQLITE://data/g.db", "data/g.db"},
		{"sqlite:data/g.db", "data/g.db"},
		{"file:///var/lib/g.db", "/var/lib/g.db"},
		{"file:data/g.db", "data/g.db"},
		{":memory:", ":memory:"},
		{"sqlite://:memory:", ":memory:"},
		{"file::memory:", ":memory:"},
	}
	for _, tt := range tests {
		got, err := sqlitePath(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("sqlitePath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"sqlite://", "file:", "mysql://h/db", "redis://h", "g.db?mode=ro"} {
		if got, err := sqlitePath(bad); err == nil {
			t.Errorf("sqlitePath(%q) = %q; want an error", bad, got)
		}
	}
}

func TestPGSplitSchema(t *testing.T) {
	tests := []struct {
		in, wantURL, wantSchema string
	}{
		{"postgres://u:p@h:5432/db?sslmode=disable", "postgres://u:p@h:5432/db?sslmode=disable", ""},
		{"postgres://u:p@h/db?schema=tenant_1&sslmode=disable", "postgres://u:p@h/db?sslmode=disable", "tenant_1"},
		{"postgresql://h/db?schema=_X9", "postgresql://h/db", "_X9"},
	}
	for _, tt := range tests {
		u, schema, err := pgSplitSchema(tt.in)
		if err != nil || u != tt.wantURL || schema != tt.wantSchema {
			t.Errorf("pgSplitSchema(%q) = %q, %q, %v; want %q, %q", tt.in, u, schema, err, tt.wantURL, tt.wantSchema)
		}
	}
	for _, bad := range []string{
		"postgres://h/db?schema=",
		"postgres://h/db?schema=a-b",
		"postgres://h/db?schema=9a",
		"postgres://h/db?schema=" + strings.Repeat("a", 64),
		`postgres://h/db?schema=a"b`,
	} {
		if _, _, err := pgSplitSchema(bad); err == nil {
			t.Errorf("pgSplitSchema(%q) succeeded; want an error", bad)
		}
	}
	// A malformed URL's error must not repeat the password.
	_, _, err := pgSplitSchema("postgres://user:s3cret@h:port/db")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("pgSplitSchema of a malformed URL: %v; want an error without the password", err)
	}
}

func TestPrepareUsage(t *testing.T) {
	h := time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)
	cet := time.FixedZone("CET", 3600)
	in := []store.UsageRecord{
		{ClientID: "b", APIName: "x", Hour: h.Add(59 * time.Minute).In(cet), Status: 200, Count: 1, LatencySum: 5, LatencyMax: 5},
		{ClientID: "a", APIName: "x", Hour: h, Status: 500, Count: 1, LatencySum: 1, LatencyMax: 1},
		{ClientID: "b", APIName: "x", Hour: h.Add(time.Second), Status: 200, Count: 2, LatencySum: 9, LatencyMax: 7},
		{ClientID: "a", APIName: "x", Hour: h, Status: 200, Error: "e", Count: 1},
		{ClientID: "a", APIName: "x", Hour: h, Status: 200, Count: 1},
	}
	orig := slices.Clone(in)
	got, err := prepareUsage(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.UsageRecord{
		{ClientID: "a", APIName: "x", Hour: h, Status: 200, Count: 1},
		{ClientID: "a", APIName: "x", Hour: h, Status: 200, Error: "e", Count: 1},
		{ClientID: "a", APIName: "x", Hour: h, Status: 500, Count: 1, LatencySum: 1, LatencyMax: 1},
		{ClientID: "b", APIName: "x", Hour: h, Status: 200, Count: 3, LatencySum: 14, LatencyMax: 7},
	}
	if !slices.Equal(got, want) {
		t.Errorf("prepareUsage =\n%+v\nwant\n%+v", got, want)
	}
	if !slices.Equal(in, orig) {
		t.Errorf("prepareUsage modified its argument")
	}
	for _, status := range []int{1 << 31, -1<<31 - 1} {
		if _, err := prepareUsage([]store.UsageRecord{{Status: status}}); err == nil {
			t.Errorf("prepareUsage with status %d succeeded; want an error", status)
		}
	}
}

func TestCeil(t *testing.T) {
	base := time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   time.Time
		want time.Time
	}{
		{base, base},
		{base.Add(time.Nanosecond), base.Add(time.Millisecond)},
		{base.Add(-time.Nanosecond), base},
		{base.Add(time.Millisecond), base.Add(time.Millisecond)},
		{base.In(time.FixedZone("CET", 3600)), base},
	}
	for _, tt := range tests {
		if got := ceil(tt.in, time.Millisecond); !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("ceil(%v, 1ms) = %v; want %v in UTC", tt.in, got, tt.want)
		}
	}
}

// TestTableStatements shows the statements newTable derives from a
// table's columns: an INSERT of every column and an UPDATE, by key, of
// every column but the identifying ones.
func TestTableStatements(t *testing.T) {
	squash := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	tests := []struct{ got, want string }{
		{subscriptionTable.insert, `INSERT INTO subscriptions (id, client_id, api_name, plan_name, pending_plan_name, status,
			created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`},
		{subscriptionTable.update, `UPDATE subscriptions SET plan_name = ?, pending_plan_name = ?, status = ?, created_at = ?,
			updated_at = ? WHERE id = ?`},
		{orderTable.insert, `INSERT INTO orders (id, organization_id, app_id, developer_id, client_id, api_name,
			subscription_id, kind, from_plan, to_plan, price_label, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{apiTable.update, `UPDATE apis SET title = ?, version = ?, base_path = ?, upstream_url = ?, status = ?,
			error_media_type = ?, max_body_bytes = ?, upstream_options = ?, lifecycle = ?, document = ?, created_at = ?, updated_at = ?
			WHERE name = ?`},
		{refreshTokenTable.insert, `INSERT INTO refresh_tokens (hash, family_id, client_id, user_id, scopes, auth_time,
			expires_at, rotated_at, revoked_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
	}
	for _, tt := range tests {
		if got, want := squash(tt.got), squash(tt.want); got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}
