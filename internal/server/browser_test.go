package server

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

	"gatehouse/internal/sandbox"
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
// answer.
type browserPage struct {
	Path   string `json:"path"`
	Status int    `json:"status"`
}

// browserModes are the JavaScript settings and colour schemes every page is
// checked in, as portal.mjs names them.
var browserModes = []string{"js-on light", "js-on dark", "js-off light", "js-off dark"}

// browserPageChecks are reported by portal.mjs for every page and mode;
// "screenshot" only with JavaScript on.
var browserPageChecks = []string{"load", "origin", "budget", "csp", "reflow", "console"}

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
// Chromium driven by playwright-core, see test/browser/portal.mjs): every
// page with JavaScript on and off, light and dark, is checked with axe-core
// for WCAG 2.1 A and AA, must make no request off 127.0.0.1, must stay
// within PORTAL.md §5's weight budgets on a cold load, must log no console
// error or CSP violation, and must reflow at 320 CSS px; the keyboard must
// reach "Browse the APIs" with a visible focus and open the catalog, the
// catalog's search must work without JavaScript, and so must the try-it
// form, posted as it is pre-filled: its result page shows the gateway's 200
// without the token and passes axe too.
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
	pages := []browserPage{{"/", 200}, {"/portal/apis", 200}, {"/portal/apis?q=swap", 200}}
	for _, d := range sandbox.Definitions() {
		pages = append(pages, browserPage{"/portal/apis/" + d.Name, 200})
	}
	const tryPage = "/portal/apis/sim-swap/try/checkSimSwap"
	pages = append(pages, browserPage{tryPage, 200}, browserPage{"/portal/plans", 200}, browserPage{"/docs/errors", 200}, browserPage{"/portal/nope", 404})
	pagesJSON, err := json.Marshal(pages)
	if err != nil {
		t.Fatal(err)
	}

	tp := newTestPlatform(t, nil)
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
		"GH_TRY="+tryPage,
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
				want = append(want, c+" "+p.Path+" "+m)
			}
			if m != "js-off dark" { // see portal.mjs: that DOM is js-on dark's without scripts
				want = append(want, "axe "+p.Path+" "+m)
			}
			if strings.HasPrefix(m, "js-on") {
				want = append(want, "screenshot "+p.Path+" "+m)
			}
		}
	}
	for _, m := range browserModes {
		want = append(want, "keyboard / "+m)
	}
	want = append(want, "search /portal/apis js-off light", "try "+tryPage+" js-off light", "try "+tryPage+" js-off dark")
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
