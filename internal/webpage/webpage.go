// Package webpage holds what every HTML page gatehouse serves shares: the
// response writing (gzip when the client accepts it, HEAD without a body)
// and the registry's text convention (`literal` as code). The portal and
// the troubleshooting page use it, so both decide these things alike.
package webpage

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Write sends a complete response: body compressed with gzip when the
// client accepts it and compression pays (over 1 KB), with Content-Length,
// Vary and nosniff; HEAD gets the headers only. The caller sets
// Content-Type and any caching header first.
func Write(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	h.Set("X-Content-Type-Options", "nosniff")
	if len(body) > 1024 && AcceptsGzip(r) {
		var gz bytes.Buffer
		zw := gzipWriters.Get().(*gzip.Writer)
		zw.Reset(&gz)
		_, _ = zw.Write(body)
		_ = zw.Close()
		gzipWriters.Put(zw)
		h.Set("Content-Encoding", "gzip")
		body = gz.Bytes()
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// gzipWriters are reused: each holds about a megabyte of compression state.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression)
	return zw
}}

// SecurityHeaders sets the headers every HTML page carries: a strict
// Content-Security-Policy (nothing from another origin, no inline script;
// an inline style only when its SHA-256, base64, is among styleHashes),
// no framing, no MIME sniffing, no referrer leaking correlators.
func SecurityHeaders(h http.Header, styleHashes ...string) {
	csp := "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	if len(styleHashes) > 0 {
		csp += "; style-src 'self'"
		for _, sum := range styleHashes {
			csp += " 'sha256-" + sum + "'"
		}
	}
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
}

// StyleHash is the CSP hash of an inline style element's text.
func StyleHash(css string) string {
	sum := sha256.Sum256([]byte(css))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// AcceptsGzip reports whether the request's Accept-Encoding allows gzip.
func AcceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// CodeSpans escapes s for HTML and shows the parts between backticks as
// code, the convention the registry's texts and OpenAPI one-line
// descriptions use for literal values. link, when not nil, returns the URL
// a code span links to ("" for none).
func CodeSpans(s string, link func(code string) string) template.HTML {
	var b strings.Builder
	parts := strings.Split(s, "`")
	if len(parts)%2 == 0 { // an unpaired backtick: show it as written
		return template.HTML(template.HTMLEscapeString(s))
	}
	for i, part := range parts {
		if i%2 == 0 {
			b.WriteString(template.HTMLEscapeString(part))
			continue
		}
		code := "<code>" + template.HTMLEscapeString(part) + "</code>"
		if link != nil {
			if u := link(part); u != "" {
				code = `<a href="` + template.HTMLEscapeString(u) + `">` + code + "</a>"
			}
		}
		b.WriteString(code)
	}
	return template.HTML(b.String())
}
