package portal

import (
	"embed"
	"fmt"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/developers"
	"gatehouse/internal/problem"
	"gatehouse/internal/store"
	"gatehouse/internal/webpage"
)

//go:embed web/*.html
var webFS embed.FS

// pageNames are the pages; each is web/<name>.html over web/layout.html.
var pageNames = []string{"landing", "catalog", "api", "plans", "error", "try",
	"signup", "signin", "reset", "message", "account", "apps", "app", "logs", "diagnosis", "usage", "status"}

func parsePages(a *assets) map[string]*template.Template {
	funcs := template.FuncMap{
		"asset": a.URL,
		"lower": strings.ToLower,
		"join":  strings.Join,
		"docs":  func(key string) string { return "/docs/errors#" + key },
		"add":   func(a, b int) int { return a + b },
		"field": newFieldView,
		// creds lists an app's credentials, sandbox first; C is nil for an
		// environment without one.
		"creds": func(a *developers.AppView) []credentialRow {
			return []credentialRow{{store.EnvironmentSandbox, a.Sandbox}, {store.EnvironmentProduction, a.Production}}
		},
		// pathEscape makes a value one path segment (an operationId).
		"pathEscape": url.PathEscape,
		// family is a status's class: 404 → "4xx".
		"family": func(status int) string { return strconv.Itoa(status/100) + "xx" },
		// events says a webhook's events briefly.
		"events": eventList,
		// seconds says how long until a reset, to a useful precision.
		"seconds": untilWords,
		// latency shows a call's latency to a useful precision.
		"latency": roundLatency,
		// rows sizes a textarea to its text, within reason.
		"rows": func(s string) int { return min(max(strings.Count(s, "\n")+2, 6), 24) },
		// code shows `literals` as code, linking registry keys to their
		// entry, as the troubleshooting page does.
		"code": func(s string) template.HTML {
			return webpage.CodeSpans(s, func(code string) string {
				if _, ok := problem.Lookup(code); ok {
					return "/docs/errors#" + code
				}
				return ""
			})
		},
	}
	base := template.Must(template.New("layout").Funcs(funcs).ParseFS(webFS, "web/layout.html", "web/partials.html"))
	pages := make(map[string]*template.Template, len(pageNames))
	for _, n := range pageNames {
		pages[n] = template.Must(template.Must(base.Clone()).ParseFS(webFS, "web/"+n+".html"))
	}
	return pages
}

type credentialRow struct {
	Env string
	C   *developers.Credential
}

// fieldView is one labelled input of a form (template "input").
type fieldView struct {
	Name, Label, Type, Value, Error, Autocomplete, Hint string
	Optional                                            bool
}

// newFieldView is the template function field: the input called name, its
// value and error taken from the form (never a password's value).
func newFieldView(name, label, typ string, f *formView, autocomplete, hint string, optional bool) fieldView {
	v := fieldView{Name: name, Label: label, Type: typ, Autocomplete: autocomplete, Hint: hint, Optional: optional}
	if f != nil {
		if typ != "password" {
			v.Value = f.Values[name]
		}
		v.Error = f.Errors[name]
	}
	return v
}

// untilWords says a wait briefly: "0 s", "42 s", "3 min 5 s", "4 h 12 min",
// "3 d 4 h" (rounded up to the second, as the RateLimit field's t is).
func untilWords(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if d <= 0 {
		s = 0
	}
	switch {
	case s < 60:
		return fmt.Sprintf("%d s", s)
	case s < 3600:
		return fmt.Sprintf("%d min %d s", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%d h %d min", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%d d %d h", s/86400, s%86400/3600)
}
