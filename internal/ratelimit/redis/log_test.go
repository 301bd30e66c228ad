package redislimit

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

// TestLogToSlog: go-redis's log lines arrive as structured Warn records
// marked source=go-redis, without the trailing newline go-redis adds.
func TestLogToSlog(t *testing.T) {
	var buf bytes.Buffer
	l := slogLogging{slog.New(slog.NewJSONHandler(&buf, nil))}
	l.Printf(context.Background(), "redis: %s:%d: connection refused\n", "127.0.0.1", 6379)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON record: %q", buf.String())
	}
	if rec["level"] != "WARN" || rec["source"] != "go-redis" || rec["msg"] != "redis: 127.0.0.1:6379: connection refused" {
		t.Errorf("record = %v", rec)
	}
}
