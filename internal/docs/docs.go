// Package docs serves the portal's Error Codes & Troubleshooting page.
//
// The page and its JSON twin are generated from problem.Catalog, the same
// table every renderer uses, so what the documentation says and what the
// platform answers cannot drift apart. Each entry's anchor is its registry
// key, which is where problem.Renderer.DocURL, the `type` member of problem
// details and the OAuth `error_uri` point.
package docs

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"gatehouse/internal/problem"
	"gatehouse/internal/webpage"
)

// Paths served by Handler, relative to where it is mounted.
const (
	PagePath = "/docs/errors"
	JSONPath = "/docs/errors.json"
)

//go:embed errors.html.tmpl
var pageSource string

var pageTemplate = template.Must(template.New("errors").Funcs(template.FuncMap{
	"code":       codeSpans,
	"statusText": http.StatusText,
}).Parse(pageSource))

// Handler serves the troubleshooting page at PagePath and the catalog as
// JSON at JSONPath. The zero value works.
type Handler struct {
	// Renderer writes the errors for unknown paths and methods. Nil means a
	// zero problem.Renderer.
	Renderer *problem.Renderer
	// Yours, when set, tells the page what the developer signed in to the
	// portal met of the registry lately (nil for a visitor): the page then
	// lists and marks those entries, and is not cached.
	Yours func(r *http.Request) *Yours
}

// Yours is what the calls of a signed-in developer's organisation met of
// the registry lately.
type Yours struct {
	Organization string
	Period       string // "in the last 7 days"
	// Entries holds the entries met, by key.
	Entries map[string]*Occurrences
}

// Occurrences is how often an organisation's calls ended in one entry.
type Occurrences struct {
	Calls  int64
	Causes []CauseCount // most frequent first
	// LogURL is the request log filtered to the entry; Diagnosis the
	// latest such call's diagnosis page ("" when the log no longer keeps
	// it) and Latest its time.
	LogURL, Diagnosis string
	Latest            time.Time
}

// CauseCount is how many calls ended in one cause.
type CauseCount struct {
	ID    string
	Calls int64
}

// ServeHTTP dispatches on the request path: PagePath renders the HTML page,
// JSONPath the JSON catalog; GET and HEAD only. Any other path is answered
// with a 404 `not_found` problem, so mount the handler on those two paths
// only if the caller wants to answer the rest itself.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var serve func(http.ResponseWriter, *http.Request)
	switch r.URL.Path {
	case PagePath:
		serve = h.servePage
	case JSONPath:
		serve = h.serveJSON
	default:
		h.Renderer.Admin(w, r, problem.Newf(problem.NotFoundUnknownPath, "Nothing is served at %s.", r.URL.Path))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Renderer.Admin(w, r, problem.Newf(problem.MethodNotAllowedMethodNotSupported,
			"%s takes GET or HEAD, not %s.", r.URL.Path, r.Method).WithHeader("Allow", "GET, HEAD"))
		return
	}
	serve(w, r)
}

// group is one section of the page.
type group struct {
	ID      string
	Name    string
	Entries []*problem.Entry
}

// groupIDs gives each group a stable anchor. The hyphen keeps them apart from
// the snake_case entry keys.
var groupIDs = map[string]string{
	problem.GroupHTTP:  "group-http",
	problem.GroupOAuth: "group-oauth",
	problem.GroupToken: "group-token",
	problem.GroupAPI:   "group-api",
}

// groups splits the catalog into sections, keeping its order.
func groups(entries []*problem.Entry) []group {
	var out []group
	for _, e := range entries {
		if len(out) == 0 || out[len(out)-1].Name != e.Group {
			id, ok := groupIDs[e.Group]
			if !ok {
				id = "group-" + strconv.Itoa(len(out)+1)
			}
			out = append(out, group{ID: id, Name: e.Group})
		}
		out[len(out)-1].Entries = append(out[len(out)-1].Entries, e)
	}
	return out
}

func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	var yours *Yours
	if h.Yours != nil {
		// A page about one organisation's calls is nobody else's: no
		// cache may keep it or serve it to another cookie.
		w.Header().Set("Vary", "Cookie")
		if yours = h.Yours(r); yours != nil {
			w.Header().Set("Cache-Control", "private, no-store")
		}
	}
	var buf bytes.Buffer
	data := struct {
		Groups []group
		Yours  *Yours
	}{groups(problem.Catalog()), yours}
	if err := pageTemplate.Execute(&buf, data); err != nil {
		h.Renderer.Admin(w, r, problem.Internal(err))
		return
	}
	// The page's one inline style element is allowed by its hash (as
	// rendered), so the page carries the portal's strict policy.
	_, rest, _ := bytes.Cut(buf.Bytes(), []byte("<style>"))
	css, _, _ := bytes.Cut(rest, []byte("</style>"))
	webpage.SecurityHeaders(w.Header(), webpage.StyleHash(string(css)))
	write(w, r, "text/html; charset=utf-8", buf.Bytes())
}

func (h *Handler) serveJSON(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the texts show headers such as <access token> literally
	enc.SetIndent("", "  ")
	if err := enc.Encode(problem.Catalog()); err != nil {
		h.Renderer.Admin(w, r, problem.Internal(err))
		return
	}
	write(w, r, "application/json", buf.Bytes())
}

// write sends a complete 200 response (webpage.Write: gzip when accepted;
// the page is about 95 KB, 20 KB compressed, and PORTAL.md §5 allows 60 KB
// per page).
func write(w http.ResponseWriter, r *http.Request, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	webpage.Write(w, r, http.StatusOK, body)
}

// codeSpans shows the registry's `literal` convention as code; a code span
// that is a registry key links to that entry.
func codeSpans(s string) template.HTML {
	return webpage.CodeSpans(s, func(code string) string {
		if _, ok := problem.Lookup(code); ok {
			return "#" + code
		}
		return ""
	})
}
