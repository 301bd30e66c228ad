package main

import (
	"bytes"
	"os"
	"testing"
)

// TestReasonsUpToDate fails when ../reasons.go is not what genreasons
// writes for ../catalog.go: run `go generate ./internal/problem`.
func TestReasonsUpToDate(t *testing.T) {
	src, err := os.ReadFile("../catalog.go")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Generate(src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../reasons.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("internal/problem/reasons.go is stale: run `go generate ./internal/problem`")
	}
}

func TestGoName(t *testing.T) {
	for id, want := range map[string]string{
		"uri_too_long":   "URITooLong",
		"auth_req_id":    "AuthReqID",
		"code_expired":   "CodeExpired",
		"pkce_required":  "PKCERequired",
		"dns_failure":    "DNSFailure",
		"invalid_client": "InvalidClient",
	} {
		if got := goName(id); got != want {
			t.Errorf("goName(%q) = %q, want %q", id, got, want)
		}
	}
}
