package redislimit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestLogToSlog: go-redis's log lines arrive as structured Warn records
// marked source=go-redis, without the trailing newline go-redis adds, one
// per kind (format) per interval with the count of those it stands for.
func TestLogToSlog(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	l := newSlogLogging(slog.New(slog.NewJSONHandler(&buf, nil)), func() time.Time { return now })
	refused := "redis: %s:%d: connection refused\n"
	l.Printf(context.Background(), refused, "127.0.0.1", 6379)
	for range 3 {
		now = now.Add(time.Second)
		l.Printf(context.Background(), refused, "127.0.0.1", 6379)
	}
	l.Printf(context.Background(), "redis: pool: %v", "other")
	now = now.Add(logEvery)
	l.Printf(context.Background(), refused, "127.0.0.1", 6380)
	var got []string
	dec := json.NewDecoder(&buf)
	for dec.More() {
		var rec map[string]any
		if err := dec.Decode(&rec); err != nil {
			t.Fatalf("not JSON records: %q", buf.String())
		}
		if rec["level"] != "WARN" || rec["source"] != "go-redis" {
			t.Errorf("record = %v", rec)
		}
		got = append(got, fmt.Sprintf("%v ×%v", rec["msg"], rec["count"]))
	}
	want := []string{
		"redis: 127.0.0.1:6379: connection refused ×1",
		"redis: pool: other ×1",
		"redis: 127.0.0.1:6380: connection refused ×4",
	}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("lines:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
