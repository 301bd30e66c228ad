package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/sandbox"
	"gatehouse/internal/testcamara"
	"gatehouse/internal/testhttp"
	"gatehouse/internal/testproc"
)

// browserDir is the browser test project: the npm packages playwright-core
// and axe-core, pinned by test/browser/package-lock.json and installed by
// .ci/run with `npm ci`. No browser is downloaded: the script drives
// Debian's chromium package, which .ci/run installs too.
const browserDir = "../../test/browser"

// chromiumPath is the browser portal.mjs launches.
const chromiumPath = "/usr/bin/chromium"

// browserPage is a portal page portal.mjs checks, with the status it must
// answer. A page is loaded by its path, by a visitor (As empty), by the
// mode's developer ("developer": signed up once per mode through the
// sign-up form; "{app}" in Path is their app) or by a developer who signs
// up in that browser first ("newcomer"). With Press set, the page checked
// is the answer to a form: the page at Path with the fields labelled in
// Fill typed in, an option starting with Select's text chosen in each
// select, and the button named Press pressed. In Fill, "{unique}" is a
// string used once, "{developer}" the mode developer's address and
// "{totp}" the current code of the two-step key the page shows.
type browserPage struct {
	// Name names the page in the checks; Path when empty.
	Name   string            `json:"name,omitempty"`
	Path   string            `json:"path"`
	Status int               `json:"status"`
	As     string            `json:"as,omitempty"`
	Fill   map[string]string `json:"fill,omitempty"`
	Select map[string]string `json:"select,omitempty"`
	Press  string            `json:"press,omitempty"`
}

func (p browserPage) name() string {
	if p.Name != "" {
		return p.Name
	}
	return p.Path
}

// browserModes are the JavaScript settings and colour schemes every page is
// checked in, as portal.mjs names them.
var browserModes = []string{"js-on light", "js-on dark", "js-off light", "js-off dark"}

// browserPageChecks are reported by portal.mjs for every page and mode;
// "screenshot" only with JavaScript on.
var browserPageChecks = []string{"load", "origin", "budget", "csp", "reflow", "console", "axe"}

// browserResult is one line of portal.mjs's output.
type browserResult struct {
	Check string `json:"check"`
	Page  string `json:"page"`
	Mode  string `json:"mode"`
	OK    bool   `json:"ok"`
	Error string `json:"error"`
	Note  string `json:"note"`
}

// TestPortalBrowser runs the developer portal in a real browser (Debian's
// Chromium driven by playwright-core, see test/browser/portal.mjs).
//
// Every page, with JavaScript on and off, light and dark, is checked with
// axe-core for WCAG 2.1 A and AA, must make no request off 127.0.0.1, must
// stay within PORTAL.md §5's weight budgets on a cold load, must carry the
// CSP and log no console error or CSP violation, and must reflow at 320
// CSS px. The pages are the visitor's (landing, catalog, every API, try-it,
// plans, sign-up, sign-in, reset, errors), the signed-in developer's
// (apps, an app with sandbox and production credentials, a subscription
// and its order, a secret asked for again, account, two-step set-up,
// organisation, plans, API and try-it pages, the request log, filtered,
// and a call's diagnosis, found and not, usage by hour and by day with
// live limits) and the answers to
// forms (sign-up with mistakes, the new app with its secret and first
// call, a try-it result, a purchase, a password change, a taken address,
// two-step sign-in turned on with its recovery codes, the correlator box).
//
// The journey runs with JavaScript off and on, each in a fresh browser,
// through accessible names only: landing → catalog → SIM Swap → "Sign up
// and try it" → sign-up → the app with its secret → the first sandbox call
// (200, an X-Correlator) within 6 page transitions and 12 fields, then
// Plans → Subscribe → the production secret. Each secret must appear in
// exactly one response the browser received; the cookies must be HttpOnly
// and SameSite=Lax; a POST without the anti-forgery field must get 403
// csrf_token_invalid. The same journey up to the first call is done again
// with the keyboard alone, every focused control showing a focus
// indicator; the keyboard must also reach "Browse the APIs" from the
// landing page in every mode, and the catalog's search must work without
// JavaScript.
//
// The screenshots (every page, light and dark, 1280 and 375 px wide) go to
// $GATEHOUSE_SCREENSHOTS when it is set (none are taken otherwise).
func TestPortalBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser over every portal page; skipped in -short mode")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		testproc.Unavailable(t, "node is not on PATH; install Node.js 20+ and run npm ci in test/browser")
	}
	if _, err := exec.LookPath(chromiumPath); err != nil {
		testproc.Unavailable(t, "Chromium is not installed at %s: apt-get install chromium (%v)", chromiumPath, err)
	}
	for _, pkg := range []string{"playwright-core", "axe-core"} {
		if _, err := os.Stat(filepath.Join(browserDir, "node_modules", pkg, "package.json")); err != nil {
			testproc.Unavailable(t, "%s is not installed: run npm ci in test/browser (%v)", pkg, err)
		}
	}

	// Screenshots cost a third of the run; they are for people to look at,
	// so they are taken only when asked for.
	shots := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if shots != "" {
		t.Logf("screenshots in %s", shots)
	}

	tp := newTestPlatform(t, nil)
	// A live API to buy: SIM Swap on a backend of its own. The CAMARA
	// document when the test data is there, else the sandbox's own (the
	// same operations), under the CAMARA title.
	sandboxSimSwap := sandbox.Definitions()[0]
	if sandboxSimSwap.Name != "sim-swap" {
		t.Fatalf("the first sandbox API is %s, want sim-swap", sandboxSimSwap.Name)
	}
	liveDoc := string(sandboxSimSwap.Document)
	if _, ok := testcamara.Dir(); ok {
		liveDoc = string(testcamara.Read(t, "sim-swap.yaml"))
	} else if m := yamlTitle.FindString(liveDoc); m != "" {
		liveDoc = strings.Replace(liveDoc, m, "  title: SIM Swap", 1)
	}
	backend := testhttp.NewRecorder(t)
	imp := testhttp.MustJSON(t, map[string]any{
		"name": "sim-swap-live", "base_path": "/sim-swap-live/v2", "upstream_url": backend.URL, "status": "live",
		"document": liveDoc,
	})
	if resp, body := tp.adminCall("POST", "/admin/apis", tp.adminToken(), "application/json", imp); resp.StatusCode != 201 {
		t.Fatalf("importing the live API: %d %s", resp.StatusCode, body)
	}
	const tryPage = "/portal/apis/sim-swap/try/checkSimSwap"
	const password = "correct horse battery"
	// What the journey clicks: the sandbox API, and the live API it buys.
	// The correlator of the call each mode's developer makes, for the
	// request log's pages.
	const correlator = "browser-diagnosis"
	journey := map[string]string{
		"api":  documentTitle(t, string(sandboxSimSwap.Document)),
		"live": documentTitle(t, liveDoc),
		"try":  tryPage, "correlator": correlator,
	}
	pages := []browserPage{{Path: "/", Status: 200}, {Path: "/portal/apis", Status: 200}, {Path: "/portal/apis?q=swap", Status: 200}}
	for _, d := range sandbox.Definitions() {
		pages = append(pages, browserPage{Path: "/portal/apis/" + d.Name, Status: 200})
	}
	pages = append(pages,
		browserPage{Path: "/portal/apis/sim-swap-live", Status: 200},
		browserPage{Path: tryPage, Status: 200},
		browserPage{Path: "/portal/plans", Status: 200},
		browserPage{Path: "/docs/errors", Status: 200},
		browserPage{Path: "/status", Status: 200},
		browserPage{Path: "/portal/nope", Status: 404},
		browserPage{Path: "/portal/signup", Status: 200},
		browserPage{Path: "/portal/signin", Status: 200},
		browserPage{Path: "/portal/reset", Status: 200},
		// The signed-in developer's pages.
		browserPage{Path: "/portal/apps", Status: 200, As: "developer"},
		browserPage{Path: "/portal/apps/{app}", Status: 200, As: "developer"},
		browserPage{Path: "/portal/account", Status: 200, As: "developer"},
		browserPage{Path: "/portal/account/totp", Status: 200, As: "developer"},
		browserPage{Path: "/portal/org", Status: 200, As: "developer"},
		browserPage{Path: "/portal/apps/{app}/credentials/sandbox/secret", Status: 410, As: "developer"},
		browserPage{Name: "/portal/plans (signed in)", Path: "/portal/plans", Status: 200, As: "developer"},
		browserPage{Name: "/portal/apis/sim-swap (signed in)", Path: "/portal/apis/sim-swap", Status: 200, As: "developer"},
		browserPage{Name: "/portal/apis/sim-swap-live (signed in)", Path: "/portal/apis/sim-swap-live", Status: 200, As: "developer"},
		browserPage{Name: tryPage + " (signed in)", Path: tryPage, Status: 200, As: "developer"},
		browserPage{Path: "/portal/logs", Status: 200, As: "developer"},
		browserPage{Path: "/portal/usage", Status: 200, As: "developer"},
		browserPage{Path: "/portal/org/webhooks", Status: 200, As: "developer"},
		browserPage{Path: "/portal/usage?range=30d", Status: 200, As: "developer"},
		browserPage{Path: "/portal/logs?status=4xx&since=1h", Status: 200, As: "developer"},
		browserPage{Path: "/portal/logs/" + correlator, Status: 200, As: "developer"},
		browserPage{Path: "/portal/logs/never-sent", Status: 404, As: "developer"},
		// The answers to forms.
		browserPage{Name: "POST /portal/signup (mistakes)", Path: "/portal/signup", Status: 400, Press: "Sign up"},
		browserPage{Name: "POST /portal/signin (mistakes)", Path: "/portal/signin", Status: 400, Press: "Sign in",
			Fill: map[string]string{"E-mail address": "nobody@example.com", "Password": "not the password"}},
		browserPage{Name: "POST /portal/signup (address taken)", Path: "/portal/signup", Status: 200, Press: "Sign up",
			Fill: map[string]string{"Your name": "Eve", "E-mail address": "{developer}", "Password": password}},
		browserPage{Name: "POST /portal/signup", Path: "/portal/signup?next=" + tryPage, Status: 201, Press: "Sign up",
			Fill: map[string]string{"Your name": "Ana Lima", "E-mail address": "{unique}@example.com", "Password": password}},
		browserPage{Name: "POST " + tryPage, Path: tryPage, Status: 200, As: "developer", Press: "Send request"},
		browserPage{Name: "GET /portal/logs?correlator= (the correlator box)", Path: "/portal/apps", Status: 200, As: "developer",
			Press: "Diagnose the call", Fill: map[string]string{"Paste your x-correlator": correlator}},
		browserPage{Name: "POST /portal/subscriptions", Path: "/portal/plans", Status: 201, As: "newcomer", Press: "Subscribe",
			Select: map[string]string{"API": journey["live"], "Plan": "starter"}},
		browserPage{Name: "POST /portal/account/password", Path: "/portal/account", Status: 200, As: "newcomer", Press: "Change the password",
			Fill: map[string]string{"Current password": password, "New password": "another horse battery"}},
		// Two-step sign-in turned on: the recovery codes, shown once.
		browserPage{Name: "POST /portal/account/totp", Path: "/portal/account/totp", Status: 200, As: "newcomer", Press: "Turn two-step sign-in on",
			Fill: map[string]string{"6-digit code": "{totp}"}},
	)
	pagesJSON, err := json.Marshal(pages)
	if err != nil {
		t.Fatal(err)
	}
	journeyJSON, err := json.Marshal(journey)
	if err != nil {
		t.Fatal(err)
	}

	// Generous: CI machines are busy, and nothing here measures time.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "portal.mjs")
	cmd.Dir = browserDir
	cmd.Env = append(os.Environ(),
		"GH_BASE_URL="+tp.Issuer,
		"GH_PAGES="+string(pagesJSON),
		"GH_SCREENSHOTS="+shots,
		"GH_CHROMIUM="+chromiumPath,
		"GH_JOURNEY="+string(journeyJSON),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()

	got := map[string]bool{}
	var table []string
	sc := bufio.NewScanner(bytes.NewReader(stdout.Bytes()))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			if line != "" {
				table = append(table, line)
			}
			continue
		}
		var r browserResult
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Check == "" {
			t.Errorf("portal.mjs printed a line that is not a check result: %q", line)
			continue
		}
		key := r.Check + " " + r.Page + " " + r.Mode
		if got[key] {
			t.Errorf("check %s reported twice", key)
		}
		got[key] = true
		switch {
		case !r.OK:
			t.Errorf("%s %s (%s): %s", r.Check, r.Page, r.Mode, r.Error)
		case r.Note != "" && r.Check != "budget":
			t.Logf("%s %s (%s): %s", r.Check, r.Page, r.Mode, r.Note)
		}
	}

	var want []string
	for _, p := range pages {
		for _, m := range browserModes {
			for _, c := range browserPageChecks {
				want = append(want, c+" "+p.name()+" "+m)
			}
			if strings.HasPrefix(m, "js-on") {
				want = append(want, "screenshot "+p.name()+" "+m)
			}
		}
	}
	for _, m := range browserModes {
		want = append(want, "keyboard / "+m, "developer / "+m)
	}
	want = append(want, "search /portal/apis js-off light")
	for _, m := range []string{"js-off light", "js-on light"} {
		for _, c := range []string{"journey", "secret-once", "cookies", "csrf"} {
			want = append(want, c+" / "+m)
		}
	}
	for _, m := range []string{"js-on light", "js-on dark"} {
		want = append(want, "keyboard-journey / "+m)
	}
	for _, k := range want {
		if !got[k] {
			t.Errorf("portal.mjs did not report the check %s", k)
		}
	}
	if len(table) > 0 {
		t.Logf("cold load per page, light theme (bytes as transferred, gzip; each URL once):\n%s", strings.Join(table, "\n"))
	}
	if runErr != nil || t.Failed() {
		t.Errorf("node portal.mjs: %v\nstderr:\n%s\nserver log:\n%s", runErr, stderr.String(), tp.logs.String())
	}
}

// yamlTitle is the info title line of an OpenAPI document in YAML (the
// first key indented by two spaces named title).
var yamlTitle = regexp.MustCompile(`(?m)^  title: (.+)$`)

// documentTitle returns the title of an OpenAPI document, as the portal
// shows it.
func documentTitle(t *testing.T, doc string) string {
	t.Helper()
	m := yamlTitle.FindStringSubmatch(doc)
	if m == nil {
		t.Fatal("an OpenAPI document without info.title")
	}
	return strings.TrimSpace(m[1])
}
