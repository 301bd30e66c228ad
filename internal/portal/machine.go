package portal

import (
	"fmt"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// The machine-readable portal: /llms.txt and /portal/apis/{name}.md are
// written from the same reference the HTML pages show, so an assistant
// reading them learns what a developer reading the pages learns.

// referenceMarkdown writes an API's page as Markdown.
func referenceMarkdown(ref *reference, doc *openapi3.T) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s %s\n\n", ref.Title, ref.Version)
	fmt.Fprintf(&b, "Base path: `%s` · status: %s · OpenAPI document: `/portal/apis/%s/openapi`\n\n", ref.BasePath, ref.Status, ref.Name)
	if doc.Info != nil && doc.Info.Description != "" {
		b.WriteString(shiftMarkdownHeadings(strings.TrimSpace(doc.Info.Description)))
		b.WriteString("\n\n")
	}
	if len(ref.Flows) > 0 {
		b.WriteString("## Authorisation\n\n")
		for _, f := range ref.Flows {
			fmt.Fprintf(&b, "- **%s** (`%s`): %s\n", f.Name, f.Grant, f.Text)
		}
		b.WriteString("\nScopes:\n\n")
		for _, s := range ref.Scopes {
			fmt.Fprintf(&b, "- `%s`: %s\n", s.Name, strings.Join(s.Operations, ", "))
		}
		b.WriteString("\n")
	}
	b.WriteString("## Operations\n")
	for _, op := range ref.Operations {
		fmt.Fprintf(&b, "\n### %s `%s %s`\n\n", op.ID, op.Method, op.Path)
		if op.Summary != "" {
			b.WriteString(op.Summary + "\n\n")
		}
		if len(op.Scopes) > 0 {
			fmt.Fprintf(&b, "Scopes (any one): `%s`\n\n", strings.Join(op.Scopes, "`, `"))
		}
		for _, p := range op.Params {
			req := ""
			if p.Required {
				req = ", required"
			}
			fmt.Fprintf(&b, "- %s `%s` (%s%s): %s\n", p.In, p.Name, p.Type, req, p.Description)
		}
		if op.BodyExample != "" {
			fmt.Fprintf(&b, "\nRequest body example:\n\n```json\n%s\n```\n", op.BodyExample)
		}
		if len(op.Rules) > 0 {
			b.WriteString("\nSandbox rules:\n\n| when | test number | token | answer |\n|---|---|---|---|\n")
			for _, r := range op.Rules {
				token := "two-legged"
				if r.ThreeLegged {
					token = "three-legged"
				}
				fmt.Fprintf(&b, "| %s | `%s` | %s | %d `%s` |\n", r.When, r.PhoneNumber, token, r.Status, r.Answer)
			}
		}
		b.WriteString("\nResponses:\n\n")
		for _, r := range op.Responses {
			codes := make([]string, 0, len(r.Errors))
			for _, e := range r.Errors {
				codes = append(codes, e.Code)
			}
			line := "- " + r.Status
			if len(codes) > 0 {
				line += " " + strings.Join(codes, ", ")
			}
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// shiftMarkdownHeadings moves "#" headings two levels down, as the HTML
// rendering does, so they nest under the page's own.
func shiftMarkdownHeadings(s string) string {
	lines := strings.Split(s, "\n")
	inFence := false
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			inFence = !inFence
		}
		if !inFence && strings.HasPrefix(l, "#") {
			lines[i] = "##" + l
		}
	}
	return strings.Join(lines, "\n")
}
