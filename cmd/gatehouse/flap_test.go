package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/testhttp"
)

var flapFor = flag.Duration("flap", 0, "run TestFlappingUpstream for this long (e.g. 20s)")

// TestFlappingUpstream measures how many calls get through the gateway to
// an upstream that is up 64 % of the time: deterministically up for 640 ms
// and answering 503 for 360 ms, every second. Four clients call every
// 5 ms through the real server with the platform's default breaker. It
// runs only with -flap, e.g.
//
//	go test ./cmd/gatehouse -run TestFlappingUpstream -flap 20s -v
func TestFlappingUpstream(t *testing.T) {
	if *flapFor <= 0 {
		t.Skip("a measurement: run with -flap 20s")
	}
	const period, upFor = time.Second, 640 * time.Millisecond
	start := time.Now()
	isUp := func() bool { return time.Since(start)%period < upFor }
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if !isUp() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"status":503,"code":"UNAVAILABLE","message":"flapping"}`)
			return
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer upstream.Close()

	ts := startServer(t, nil)
	ts.importAPI(t, testhttp.EchoAPI, "--upstream", upstream.URL, "--name", "flap", "--base-path", "/flap/v1")
	app := ts.createClient("flap app", "--scopes", "echo:call")
	ts.cli("plans", "create", "--name", "unmetered", "--rate", "0")
	ts.cli("subscriptions", "create", "--client", app.ID, "--api", "flap", "--plan", "unmetered")
	tok := ts.token(app, "echo:call")
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	send := func() int {
		req, _ := http.NewRequest(http.MethodPost, ts.Issuer+"/flap/v1/call", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hc.Do(req)
		if err != nil {
			t.Error(err)
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	testhttp.Eventually(t, 10*time.Second, "the API to be served", func() bool {
		for !isUp() {
			time.Sleep(10 * time.Millisecond)
		}
		return send() == http.StatusOK
	})
	// Let the breaker close again if the wait above opened it.
	time.Sleep(2 * period)

	var calls, through, sentUp, other atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(*flapFor)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				up := isUp()
				status := send()
				calls.Add(1)
				if up {
					sentUp.Add(1)
				}
				switch status {
				case http.StatusOK:
					through.Add(1)
				case http.StatusServiceUnavailable:
				default:
					other.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	n := float64(calls.Load())
	msg := fmt.Sprintf("flapping upstream up %.0f %% of the time: %.1f %% of %d calls got through (%.1f %% of calls were sent while it was up; %d other statuses)",
		100*float64(upFor)/float64(period), 100*float64(through.Load())/n, calls.Load(), 100*float64(sentUp.Load())/n, other.Load())
	t.Log(msg)
	fmt.Println(msg)
}
