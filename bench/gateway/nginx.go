package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// The reference proxy: nginx as a plain reverse proxy in front of the same
// upstream, with a keep-alive upstream pool, no access log, one process
// (master_process off, so its CPU time is one /proc entry). It does what a
// proxy must and nothing else: no token, no scope, no schema, no limits.
// The scale figures quote nginx so measured; running it in the same
// run shows what the machine allows a proxy hop to cost.
const nginxConf = `daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log stderr error;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	upstream bench_upstream {
		server %[2]s;
		keepalive 128;
	}
	server {
		listen %[3]s;
		location / {
			proxy_pass http://bench_upstream;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
`

// findNginx resolves the -nginx flag: "auto" looks nginx up in PATH and
// /usr/sbin and returns "" when it is not installed; "off" returns "".
func findNginx(flagValue string) (string, error) {
	switch flagValue {
	case "off", "":
		return "", nil
	case "auto":
		if p, err := exec.LookPath("nginx"); err == nil {
			return p, nil
		}
		if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
			return "/usr/sbin/nginx", nil
		}
		return "", nil
	}
	if _, err := os.Stat(flagValue); err != nil {
		return "", fmt.Errorf("-nginx %s: %w", flagValue, err)
	}
	return flagValue, nil
}

// startNginx starts nginx proxying to upstreamAddr and returns the target
// that reaches the upstream's /check through it.
func startNginx(ctx context.Context, procs *children, bin, dir, upstreamAddr string) (*child, target, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, target{}, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, target{}, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, upstreamAddr, addr), 0o600); err != nil {
		return nil, target{}, err
	}
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", "stderr")
	cmd.Stderr = os.Stderr
	c, err := procs.start("nginx", cmd)
	if err != nil {
		return nil, target{}, err
	}
	t := target{url: "http://" + addr + "/check"}
	return c, t, waitOK(ctx, c, t, 15*time.Second)
}
