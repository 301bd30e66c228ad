package webpage

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestCodeSpans(t *testing.T) {
	link := func(code string) string {
		if code == "not_found" {
			return "/docs/errors#not_found"
		}
		return ""
	}
	for in, want := range map[string]string{
		"plain <b>":                     "plain &lt;b&gt;",
		"use `/sim-swap/v2` and `a<b`":  "use <code>/sim-swap/v2</code> and <code>a&lt;b</code>",
		"see `not_found`":               `see <a href="/docs/errors#not_found"><code>not_found</code></a>`,
		"an unpaired ` stays as it was": "an unpaired ` stays as it was",
	} {
		if got := string(CodeSpans(in, link)); got != want {
			t.Errorf("CodeSpans(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWrite(t *testing.T) {
	body := strings.Repeat("gatehouse ", 500)
	for _, tc := range []struct {
		method, accept string
		gzipped        bool
	}{
		{"GET", "gzip, br", true},
		{"GET", "gzip;q=0", false},
		{"GET", "", false},
		{"HEAD", "gzip", true},
	} {
		r := httptest.NewRequest(tc.method, "/", nil)
		r.Header.Set("Accept-Encoding", tc.accept)
		w := httptest.NewRecorder()
		Write(w, r, http.StatusTeapot, []byte(body))
		res := w.Result()
		if res.StatusCode != http.StatusTeapot || (res.Header.Get("Content-Encoding") == "gzip") != tc.gzipped || res.Header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("%s %q: %d %v", tc.method, tc.accept, res.StatusCode, res.Header)
			continue
		}
		raw := w.Body.Bytes()
		if tc.method == "HEAD" {
			if len(raw) != 0 {
				t.Errorf("HEAD wrote %d bytes", len(raw))
			}
			continue
		}
		var got []byte
		if tc.gzipped {
			zr, err := gzip.NewReader(w.Body)
			if err != nil {
				t.Fatal(err)
			}
			got, _ = io.ReadAll(zr)
		} else {
			got = raw
		}
		if string(got) != body || res.Header.Get("Content-Length") != strconv.Itoa(len(raw)) {
			t.Errorf("%s %q: body or Content-Length wrong", tc.method, tc.accept)
		}
	}
}
