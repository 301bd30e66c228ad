package portal

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"strings"

	"gatehouse/internal/webpage"
)

//go:embed static
var staticFS embed.FS

// Theme brands the portal: the operator's name, logo and accent colours
// (light and dark; the pages follow prefers-color-scheme).
type Theme struct {
	// Name is shown in the header and titles. Empty means "gatehouse".
	Name string
	// LogoFile is an SVG or PNG file shown beside the name. Empty means
	// the built-in mark.
	LogoFile string
	// Accent and AccentDark are CSS colours for links and buttons in the
	// light and dark themes. Empty means the built-in blue.
	Accent, AccentDark string
}

// assets are the embedded static files and the theme's, each served at a
// content-hashed name (/static/style.1a2b3c4d.css) with a year of caching,
// and a gzip variant made once at start.
type assets struct {
	byPath map[string]*asset // "/static/style.1a2b3c4d.css"
	url    map[string]string // "style.css" → its hashed path
}

type asset struct {
	contentType string
	body, gz    []byte
}

func newAssets(t Theme) (*assets, error) {
	a := &assets{byPath: map[string]*asset{}, url: map[string]string{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		a.add(path.Base(p), body)
		return nil
	})
	if err != nil {
		return nil, err
	}
	a.add("theme.css", themeCSS(t))
	if t.LogoFile != "" {
		ext := strings.ToLower(path.Ext(t.LogoFile))
		if ext != ".svg" && ext != ".png" {
			return nil, fmt.Errorf("portal_logo %s: only .svg and .png files are served", t.LogoFile)
		}
		body, err := os.ReadFile(t.LogoFile)
		if err != nil {
			return nil, fmt.Errorf("portal_logo: %w", err)
		}
		a.add("logo"+ext, body)
		a.url["logo"] = a.url["logo"+ext]
	} else {
		a.url["logo"] = a.url["logo.svg"]
	}
	return a, nil
}

func (a *assets) add(name string, body []byte) {
	sum := sha256.Sum256(body)
	ext := path.Ext(name)
	hashed := "/static/" + strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:4]) + ext
	ct := mime.TypeByExtension(ext)
	if ct == "" {
		ct = "application/octet-stream"
	}
	as := &asset{contentType: ct, body: body}
	if !strings.HasPrefix(ct, "image/png") {
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		_, _ = zw.Write(body)
		_ = zw.Close()
		if gz.Len() < len(body) {
			as.gz = gz.Bytes()
		}
	}
	a.byPath[hashed] = as
	a.url[name] = hashed
}

// URL returns the hashed path of a named asset ("style.css").
func (a *assets) URL(name string) string { return a.url[name] }

// serve writes an asset and reports whether there is one at the path; its
// name changes with its content, so it may be cached for a year and never
// revalidated.
func (a *assets) serve(w http.ResponseWriter, r *http.Request) bool {
	as, ok := a.byPath[r.URL.Path]
	if !ok {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", as.contentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("Vary", "Accept-Encoding")
	body := as.body
	if as.gz != nil && webpage.AcceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = as.gz
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return true
}

// themeCSS sets the accent custom properties the stylesheet reads.
func themeCSS(t Theme) []byte {
	light, dark := t.Accent, t.AccentDark
	if light == "" {
		light = "#0b5cad"
	}
	if dark == "" {
		dark = "#7ab8f5"
	}
	return []byte(fmt.Sprintf(":root{--accent:%s}\n@media (prefers-color-scheme:dark){:root{--accent:%s}}\n", cssValue(light), cssValue(dark)))
}

// cssValue keeps a configured colour from closing the declaration.
func cssValue(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ';' || r == '}' || r == '{' || r == '<' || r == '"' || r == '\'' || r == '\\' {
			return -1
		}
		return r
	}, s)
}
