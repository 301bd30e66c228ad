// Command load is a closed-loop HTTP load generator for loopback targets.
//
//	go run ./bench/load -url http://127.0.0.1:9090/ -c 32 -d 5s
//	go run ./bench/load -url http://127.0.0.1:8080/oauth2/token \
//	    -basic client:secret -H 'Content-Type: application/x-www-form-urlencoded' \
//	    -body 'grant_type=client_credentials' -json -label token
//
// Each of the -c workers owns one keep-alive connection and loops
// request → read body → record latency until the -d window (after -warmup)
// elapses. Only loopback targets (127.0.0.0/8, ::1, localhost) are accepted.
// See package gatehouse/bench/loadgen for the accounting rules.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"gatehouse/bench/loadgen"
)

type headerFlag []string

func (h *headerFlag) String() string { return strings.Join(*h, ", ") }
func (h *headerFlag) Set(v string) error {
	name, _, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("header %q: want \"Name: value\"", v)
	}
	*h = append(*h, v)
	return nil
}

// usageError is a flag parsing error; the flag package has already printed it.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func main() {
	err := run(os.Args[1:], os.Stdout)
	var ue usageError
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, &ue):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	var (
		target      = fs.String("url", "", "target URL (loopback only: 127.0.0.0/8, ::1, localhost)")
		method      = fs.String("method", "", "HTTP method (default GET, or POST when a body is given)")
		body        = fs.String("body", "", "request body")
		bodyFile    = fs.String("body-file", "", "read the request body from this file (- for stdin)")
		basic       = fs.String("basic", "", "user:pass for HTTP Basic authorization")
		conns       = fs.Int("c", 32, "connections (one worker per keep-alive connection)")
		duration    = fs.Duration("d", 10*time.Second, "measurement duration")
		warmup      = fs.Duration("warmup", time.Second, "warmup before measuring (not counted)")
		expect      = fs.Int("expect", http.StatusOK, "expected status; anything else counts as an error")
		asJSON      = fs.Bool("json", false, "print the result as one JSON object")
		label       = fs.String("label", "", "free text included in the output")
		maxRequests = fs.Int64("max-requests", 0, "stop after this many counted requests (0 = no cap)")
		rate        = fs.Float64("rate", 0, "pace open-loop at this many requests/s in total (0 = closed loop, as fast as possible)")
		insecure    = fs.Bool("insecure", false, "skip TLS certificate verification (https targets)")
		headers     headerFlag
	)
	fs.Var(&headers, "H", "request header \"Name: value\" (repeatable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *target == "" {
		return fmt.Errorf("-url is required")
	}
	// Fail fast, before reading body files, on a forbidden target.
	if _, err := loadgen.CheckLoopbackURL(*target); err != nil {
		return err
	}

	cfg := loadgen.Config{
		URL:          *target,
		Method:       strings.ToUpper(*method),
		Header:       make(http.Header),
		Connections:  *conns,
		Duration:     *duration,
		Warmup:       *warmup,
		ExpectStatus: *expect,
		MaxRequests:  *maxRequests,
		Rate:         *rate,
		Label:        *label,
		InsecureTLS:  *insecure,
	}
	if *conns <= 0 {
		return fmt.Errorf("-c must be positive")
	}
	if *duration <= 0 {
		return fmt.Errorf("-d must be positive")
	}
	switch {
	case *body != "" && *bodyFile != "":
		return fmt.Errorf("-body and -body-file are mutually exclusive")
	case *body != "":
		cfg.Body = []byte(*body)
	case *bodyFile == "-":
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return fmt.Errorf("reading body from stdin: %w", err)
		}
		cfg.Body = b
	case *bodyFile != "":
		b, err := os.ReadFile(*bodyFile)
		if err != nil {
			return err
		}
		cfg.Body = b
	}
	if cfg.Method == "" && (*body != "" || *bodyFile != "") {
		cfg.Method = http.MethodPost
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		cfg.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if *basic != "" {
		if !strings.Contains(*basic, ":") {
			return fmt.Errorf("-basic: want user:pass")
		}
		cfg.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(*basic)))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		return enc.Encode(toJSON(res))
	}
	_, err = io.WriteString(stdout, res.String())
	return err
}

type jsonSample struct {
	Status int    `json:"status,omitempty"`
	Body   string `json:"body,omitempty"`
	Error  string `json:"error,omitempty"`
	Count  int64  `json:"count"`
}

type jsonResult struct {
	Label           string           `json:"label,omitempty"`
	URL             string           `json:"url"`
	Method          string           `json:"method"`
	Connections     int              `json:"connections"`
	WarmupS         float64          `json:"warmup_s"`
	ElapsedS        float64          `json:"elapsed_s"`
	Requests        int64            `json:"requests"`
	Successes       int64            `json:"successes"`
	Errors          int64            `json:"errors"`
	StatusErrors    int64            `json:"status_errors"`
	TransportErrors int64            `json:"transport_errors"`
	RPS             float64          `json:"rps"`
	BytesRead       int64            `json:"bytes_read"`
	Dials           int64            `json:"dials"`
	MinMs           float64          `json:"min_ms"`
	MeanMs          float64          `json:"mean_ms"`
	P50Ms           float64          `json:"p50_ms"`
	P90Ms           float64          `json:"p90_ms"`
	P99Ms           float64          `json:"p99_ms"`
	P999Ms          float64          `json:"p999_ms"`
	MaxMs           float64          `json:"max_ms"`
	Statuses        map[string]int64 `json:"statuses"`
	ErrorSamples    []jsonSample     `json:"error_samples,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func toJSON(r loadgen.Result) jsonResult {
	j := jsonResult{
		Label:           r.Label,
		URL:             r.URL,
		Method:          r.Method,
		Connections:     r.Connections,
		WarmupS:         r.Warmup.Seconds(),
		ElapsedS:        r.Elapsed.Seconds(),
		Requests:        r.Requests,
		Successes:       r.Successes,
		Errors:          r.Errors,
		StatusErrors:    r.StatusErrors,
		TransportErrors: r.TransportErrors,
		RPS:             r.RPS,
		BytesRead:       r.BytesRead,
		Dials:           r.Dials,
		MinMs:           ms(r.Latency.Min),
		MeanMs:          ms(r.Latency.Mean),
		P50Ms:           ms(r.Latency.P50),
		P90Ms:           ms(r.Latency.P90),
		P99Ms:           ms(r.Latency.P99),
		P999Ms:          ms(r.Latency.P999),
		MaxMs:           ms(r.Latency.Max),
		Statuses:        make(map[string]int64, len(r.StatusCounts)),
	}
	for sc, n := range r.StatusCounts {
		j.Statuses[fmt.Sprint(sc)] = n
	}
	for _, s := range r.ErrorSamples {
		j.ErrorSamples = append(j.ErrorSamples, jsonSample{Status: s.Status, Body: s.Body, Error: s.Err, Count: s.Count})
	}
	return j
}
