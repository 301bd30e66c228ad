package portal

import (
	"embed"
	"html/template"
	"strings"

	"gatehouse/internal/problem"
	"gatehouse/internal/webpage"
)

//go:embed web/*.html
var webFS embed.FS

// pageNames are the pages; each is web/<name>.html over web/layout.html.
var pageNames = []string{"landing", "catalog", "api", "plans", "error"}

func parsePages(a *assets) map[string]*template.Template {
	funcs := template.FuncMap{
		"asset": a.URL,
		"lower": strings.ToLower,
		"join":  strings.Join,
		"docs":  func(key string) string { return "/docs/errors#" + key },
		"add":   func(a, b int) int { return a + b },
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
