package portal

import (
	"fmt"
	"strings"
)

// sample is one operation's call in one language.
type sample struct {
	Lang, Label, Code string
}

// sampleInput is what a sample is filled with.
type sampleInput struct {
	BaseURL  string // the public base URL, no trailing slash
	ClientID string // the developer's sandbox app, or a placeholder
	Op       *operation
}

// samples writes the operation's call with a two-legged token in curl, Go,
// JavaScript and Python: the same request, so a developer can compare.
func samples(in sampleInput) []sample {
	op := in.Op
	url := in.BaseURL + op.Path
	scope := strings.Join(op.Scopes, " ")
	if len(op.Scopes) > 1 {
		scope = op.Scopes[0] // any one listed scope is accepted
	}
	body := op.BodyExample
	token := in.BaseURL + "/oauth2/token"
	var out []sample

	var curl strings.Builder
	fmt.Fprintf(&curl, "TOKEN=$(curl -s -u %s:\"$CLIENT_SECRET\" \\\n  -d grant_type=client_credentials -d scope=%s \\\n  %s | jq -r .access_token)\n\n", in.ClientID, shellQuote(scope), token)
	fmt.Fprintf(&curl, "curl -i -X %s %s \\\n  -H \"Authorization: Bearer $TOKEN\"", op.Method, url)
	if body != "" {
		fmt.Fprintf(&curl, " \\\n  -H 'Content-Type: application/json' \\\n  -d %s", shellQuote(compact(body)))
	}
	out = append(out, sample{Lang: "shell", Label: "curl", Code: curl.String()})

	goBody := "nil"
	if body != "" {
		goBody = "strings.NewReader(`" + compact(body) + "`)"
	}
	out = append(out, sample{Lang: "go", Label: "Go", Code: fmt.Sprintf(`cfg := clientcredentials.Config{
	ClientID:     %q,
	ClientSecret: os.Getenv("CLIENT_SECRET"),
	TokenURL:     %q,
	Scopes:       []string{%q},
}
client := cfg.Client(context.Background()) // golang.org/x/oauth2
req, _ := http.NewRequest(%q, %q, %s)
req.Header.Set("Content-Type", "application/json")
resp, err := client.Do(req)`, in.ClientID, token, scope, op.Method, url, goBody)})

	jsBody := ""
	if body != "" {
		jsBody = ",\n  headers: { ...auth, 'Content-Type': 'application/json' },\n  body: JSON.stringify(" + indent(body, "  ") + ")"
	} else {
		jsBody = ",\n  headers: auth"
	}
	out = append(out, sample{Lang: "javascript", Label: "JavaScript", Code: fmt.Sprintf(`const basic = btoa(%q + ':' + process.env.CLIENT_SECRET);
const t = await fetch(%q, {
  method: 'POST',
  headers: { Authorization: 'Basic ' + basic },
  body: new URLSearchParams({ grant_type: 'client_credentials', scope: %q }),
}).then(r => r.json());
const auth = { Authorization: 'Bearer ' + t.access_token };
const res = await fetch(%q, {
  method: %q%s,
});
console.log(res.status, res.headers.get('x-correlator'), await res.json());`, in.ClientID, token, scope, url, op.Method, jsBody)})

	pyBody := ""
	if body != "" {
		pyBody = ", json=" + pythonLiteral(body)
	}
	out = append(out, sample{Lang: "python", Label: "Python", Code: fmt.Sprintf(`import os, requests

t = requests.post(%q, auth=(%q, os.environ["CLIENT_SECRET"]),
                  data={"grant_type": "client_credentials", "scope": %q}).json()
r = requests.request(%q, %q,
                     headers={"Authorization": "Bearer " + t["access_token"]}%s)
print(r.status_code, r.headers.get("x-correlator"), r.json())`, token, in.ClientID, scope, op.Method, url, pyBody)})
	return out
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// compact turns an indented JSON example into one line.
func compact(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	out := strings.Join(lines, "")
	out = strings.ReplaceAll(out, "\":", "\": ")
	return strings.ReplaceAll(out, ",\"", ", \"")
}

func indent(s, by string) string {
	return strings.ReplaceAll(s, "\n", "\n"+by)
}

// pythonLiteral writes a JSON example as a Python literal.
func pythonLiteral(s string) string {
	r := strings.NewReplacer(": true", ": True", ": false", ": False", ": null", ": None")
	return r.Replace(compact(s))
}
