package main

import (
	"encoding/json"
	"testing"

	"gatehouse/internal/testhttp"
)

// TestTryLiveFlag: --try-live opens a live API to the portal's try-it on
// import, update keeps it unless given, and --try-live=false closes it.
func TestTryLiveFlag(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	ts.importAPI(t, testhttp.EchoAPI, "--upstream", "http://backend.test", "--name", "open", "--base-path", "/open/v1", "--try-live")
	tryLive := func(args ...string) any {
		t.Helper()
		var v map[string]any
		if err := json.Unmarshal([]byte(ts.cli(append(args, "--json")...)), &v); err != nil {
			t.Fatal(err)
		}
		return v["try_live"]
	}
	if got := tryLive("apis", "show", "open"); got != true {
		t.Errorf("after import --try-live: try_live %v", got)
	}
	if got := tryLive("apis", "update", "open", "--status", "live"); got != true {
		t.Errorf("an update without --try-live changed it to %v", got)
	}
	if got := tryLive("apis", "update", "open", "--try-live=false"); got != false {
		t.Errorf("after --try-live=false: try_live %v", got)
	}
}
