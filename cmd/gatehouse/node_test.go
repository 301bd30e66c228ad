package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"gatehouse/internal/testhttp"
	"gatehouse/internal/testproc"
)

// nodeDir is the Node interoperability project: the npm package
// openid-client, pinned by test/node/package-lock.json and installed by
// .ci/run with `npm ci`.
const nodeDir = "../../test/node"

// nodeSteps are the steps test/node/flows.mjs reports, every one of which
// must succeed.
var nodeSteps = []string{
	"discovery",
	"authorize", "authorization_code", "userinfo", "refresh", "refresh_reuse",
	"authorize_confidential", "authorize_consent_remembered", "authorize_denied",
	"client_credentials", "introspection", "revocation",
	"ciba", "ciba_pending", "ciba_denied",
	"authorize_jar", "ciba_jar", "jwt_bearer", "jwt_bearer_scope_parameter",
}

// nodeStep is one line of flows.mjs's output.
type nodeStep struct {
	Step  string `json:"step"`
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

// TestOpenIDClientNode runs the certified-style npm package openid-client
// (v6, strict about the specifications) against the real server: discovery,
// authorization code with PKCE through the sign-in and consent pages,
// userinfo, refresh rotation and reuse, a denied authorization, client
// credentials, introspection, revocation, CIBA poll mode, and the CAMARA
// profile's signed requests (a JAR authorization request and a signed CIBA
// request with private_key_jwt, the JWT bearer grant with the assertion as
// the client's authentication). The client side is entirely openid-client;
// see test/node/flows.mjs.
func TestOpenIDClientNode(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs node as a process and waits out CIBA poll intervals; skipped in -short mode")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		testproc.Unavailable(t, "node is not on PATH; install Node.js 20+ and run npm ci in test/node")
	}
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "openid-client", "package.json")); err != nil {
		testproc.Unavailable(t, "openid-client is not installed: run npm ci in test/node (%v)", err)
	}

	ts := startServer(t, nil)
	const redirectURI = "http://127.0.0.1:9/callback" // caught by the script, never fetched
	public := ts.createClient("node public app", "--auth-method", "none",
		"--grant-types", "authorization_code refresh_token",
		"--scopes", "openid phone offline_access", "--redirect-uris", redirectURI)
	confidential := ts.createClient("node confidential app", "--auth-method", "client_secret_basic",
		"--grant-types", "authorization_code refresh_token client_credentials urn:openid:params:grant-type:ciba",
		"--scopes", "openid phone offline_access sim-swap:check", "--redirect-uris", redirectURI)
	// The CAMARA profile's client: private_key_jwt, its key signing its
	// request objects and JWT bearer assertions too.
	key := testhttp.NewAssertionKey(t, nil)
	jar := ts.createClient("node signed requests app", "--auth-method", "private_key_jwt", "--jwks", key.JWKS(t),
		"--grant-types", "authorization_code urn:openid:params:grant-type:ciba urn:ietf:params:oauth:grant-type:jwt-bearer",
		"--scopes", "openid phone number-verification:verify sim-swap:check", "--redirect-uris", redirectURI)
	privateJWK := testhttp.MustJSON(t, jose.JSONWebKey{Key: key.Key, KeyID: key.KeyID, Algorithm: "ES256", Use: "sig"})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "flows.mjs")
	cmd.Dir = nodeDir
	cmd.Env = append(os.Environ(),
		"GH_ISSUER="+ts.Issuer,
		"GH_PUBLIC_ID="+public.ID,
		"GH_CONFIDENTIAL_ID="+confidential.ID,
		"GH_CONFIDENTIAL_SECRET="+confidential.Secret,
		"GH_REDIRECT_URI="+redirectURI,
		"GH_PHONE=+34600000001",
		"GH_CC_SCOPE=sim-swap:check",
		"GH_JAR_ID="+jar.ID,
		"GH_JAR_KEY="+privateJWK,
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()

	got := map[string]nodeStep{}
	sc := bufio.NewScanner(bytes.NewReader(stdout.Bytes()))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var s nodeStep
		if err := json.Unmarshal([]byte(line), &s); err != nil || s.Step == "" {
			t.Errorf("flows.mjs printed a line that is not a step result: %q", line)
			continue
		}
		t.Logf("%s", line)
		if s.OK {
			if _, seen := got[s.Step]; seen {
				t.Errorf("step %s reported twice", s.Step)
			}
		} else {
			t.Errorf("openid-client step %s failed: %s", s.Step, line)
		}
		got[s.Step] = s
	}
	for _, name := range nodeSteps {
		if _, ok := got[name]; !ok {
			t.Errorf("flows.mjs did not report the step %s", name)
		}
	}
	if runErr != nil || t.Failed() {
		t.Errorf("node flows.mjs: %v\nstderr:\n%s\nserver log:\n%s", runErr, stderr.String(), ts.stderr.String())
	}
}
