// Command upstream is a trivial loopback HTTP server used as a benchmark
// baseline: it answers GET and POST on every path with the fixed JSON body
// {"swapped":false}, so load can be compared directly against it and
// through the gateway.
//
//	go run ./bench/upstream -addr 127.0.0.1:9090
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

var (
	respBody      = []byte(`{"swapped":false}`)
	respBodyLen   = []string{strconv.Itoa(len(respBody))}
	respJSONType  = []string{"application/json"}
	allowedMethod = []string{"GET, POST"}
)

func handler(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		h["Allow"] = allowedMethod
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// Consume the request body so the connection can be reused.
	_, _ = io.Copy(io.Discard, r.Body)
	// Assigning the shared slices directly avoids per-request header
	// allocations; net/http only reads them.
	h["Content-Type"] = respJSONType
	h["Content-Length"] = respBodyLen
	_, _ = w.Write(respBody)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9090", "listen address (loopback only)")
	flag.Parse()
	if err := run(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}

func run(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("bad -addr %q: %w", addr, err)
	}
	if ip, err := netip.ParseAddr(host); host != "localhost" && (err != nil || !ip.Unmap().IsLoopback()) {
		return fmt.Errorf("refusing to listen on %q: benchmark servers bind loopback only", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(handler),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	shutdownDone := make(chan struct{})
	go func() {
		defer close(shutdownDone)
		<-ctx.Done()
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutCtx)
	}()
	log.Printf("upstream: listening on http://%s", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-shutdownDone
	return nil
}
