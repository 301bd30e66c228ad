// Command upstream is a trivial loopback HTTP server used as a benchmark
// baseline: it answers GET and POST on every path with the fixed JSON body
// {"swapped":false}, so load can be compared directly against it and
// through the gateway. With -tls-addr it also answers over HTTPS, in the
// same process, with the given certificate.
//
//	go run ./bench/upstream -addr 127.0.0.1:9090
//	go run ./bench/upstream -addr 127.0.0.1:9090 -tls-addr 127.0.0.1:9443 -tls-cert cert.pem -tls-key key.pem
package main

import (
	"context"
	"crypto/tls"
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
	var t tlsOptions
	flag.StringVar(&t.addr, "tls-addr", "", "also serve HTTPS on this address (loopback only), with -tls-cert and -tls-key")
	flag.StringVar(&t.cert, "tls-cert", "", "PEM certificate (chain) of the HTTPS listener")
	flag.StringVar(&t.key, "tls-key", "", "PEM private key of the HTTPS listener")
	flag.Parse()
	if err := run(*addr, t); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}

// tlsOptions configure the optional HTTPS listener.
type tlsOptions struct{ addr, cert, key string }

// listenLoopback listens on addr, which must be a loopback address.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("bad address %q: %w", addr, err)
	}
	if ip, err := netip.ParseAddr(host); host != "localhost" && (err != nil || !ip.Unmap().IsLoopback()) {
		return nil, fmt.Errorf("refusing to listen on %q: benchmark servers bind loopback only", addr)
	}
	return net.Listen("tcp", addr)
}

func run(addr string, t tlsOptions) error {
	ln, err := listenLoopback(addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(handler),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	var tlsSrv *http.Server
	if t.addr != "" {
		tlsLn, err := listenLoopback(t.addr)
		if err != nil {
			return err
		}
		tlsSrv = &http.Server{
			Handler:           http.HandlerFunc(handler),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			// HTTP/1.1 only, as the gateway speaks to upstreams.
			TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		}
		go func() {
			log.Printf("upstream: listening on https://%s", tlsLn.Addr())
			if err := tlsSrv.ServeTLS(tlsLn, t.cert, t.key); !errors.Is(err, http.ErrServerClosed) {
				log.Fatalf("upstream: %v", err)
			}
		}()
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
		if tlsSrv != nil {
			_ = tlsSrv.Shutdown(shutCtx)
		}
	}()
	log.Printf("upstream: listening on http://%s", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-shutdownDone
	return nil
}
