package portal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gatehouse/internal/developers"
	"gatehouse/internal/problem"
	"gatehouse/internal/sandbox"
	"gatehouse/internal/store"
	"gatehouse/internal/webpage"
)

// landing is the first page: what the portal offers and the APIs.
func (p *Portal) landing(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/portal" || r.URL.Path == "/portal/" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	refs, err := p.references(r.Context())
	if err != nil {
		p.fail(w, r, problem.FromStore(err, "API", ""))
		return
	}
	p.render(w, r, http.StatusOK, "landing", page{Data: refs})
}

// catalogView is the catalog with its search and filters.
type catalogView struct {
	Query, Status, Tag string
	Statuses, Tags     []string
	APIs               []*reference
	Total              int
}

// catalog lists every API, filtered by a search text (title, summary,
// tags, operations), a status and a tag: a GET form, so it works without
// JavaScript and every result has a URL.
func (p *Portal) catalog(w http.ResponseWriter, r *http.Request) {
	refs, err := p.references(r.Context())
	if err != nil {
		p.fail(w, r, problem.FromStore(err, "API", ""))
		return
	}
	q := r.URL.Query()
	v := catalogView{Query: strings.TrimSpace(q.Get("q")), Status: q.Get("status"), Tag: q.Get("tag"), Total: len(refs)}
	for _, ref := range refs {
		if !slices.Contains(v.Statuses, ref.Status) {
			v.Statuses = append(v.Statuses, ref.Status)
		}
		for _, t := range ref.Tags {
			if !slices.Contains(v.Tags, t) {
				v.Tags = append(v.Tags, t)
			}
		}
		if v.Status != "" && ref.Status != v.Status || v.Tag != "" && !slices.Contains(ref.Tags, v.Tag) {
			continue
		}
		if v.Query != "" && !matches(ref, v.Query) {
			continue
		}
		v.APIs = append(v.APIs, ref)
	}
	slices.Sort(v.Statuses)
	slices.Sort(v.Tags)
	p.render(w, r, http.StatusOK, "catalog", page{Title: "APIs", Nav: "apis", Data: v})
}

// matches reports whether every word of the query occurs in the API's
// title, name, summary, tags or operations.
func matches(ref *reference, query string) bool {
	var hay strings.Builder
	hay.WriteString(ref.Title + " " + ref.Name + " " + ref.Summary + " " + strings.Join(ref.Tags, " "))
	for _, op := range ref.Operations {
		hay.WriteString(" " + op.ID + " " + op.Path + " " + op.Summary)
	}
	text := strings.ToLower(hay.String())
	for _, w := range strings.Fields(strings.ToLower(query)) {
		if !strings.Contains(text, w) {
			return false
		}
	}
	return true
}

// apiView is an API's page.
type apiView struct {
	*reference
	Plans   []planView
	BaseURL string
	Buy     *buyView
	// Try is set when each operation links its try-it form.
	Try bool
	// DeprecatedYet: the announced deprecation has taken effect.
	DeprecatedYet bool
	// Changelog is the API's versions, newest first.
	Changelog []changelogEntry
}

// apiPage renders an API's page, or its Markdown at {name}.md.
func (p *Portal) apiPage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	md := strings.HasSuffix(name, ".md")
	name = strings.TrimSuffix(name, ".md")
	ref, err := p.reference(r.Context(), name)
	if err != nil {
		p.fail(w, r, apiError(err, name))
		return
	}
	if md {
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		webpage.Write(w, r, http.StatusOK, []byte(ref.Markdown))
		return
	}
	plans, err := p.planViews(r)
	if err != nil {
		p.fail(w, r, problem.FromStore(err, "plan", ""))
		return
	}
	v := apiView{reference: ref, Plans: plans, BaseURL: p.cfg.BaseURL, Buy: p.buyFor(w, r, ref.Name, ref.Status, plans),
		Try: p.tryOn() && tryable(ref) == nil, DeprecatedYet: ref.Lifecycle.Deprecated() && !ref.Lifecycle.DeprecatedAt.After(p.cfg.now())}
	if v.Changelog, err = p.changelog(r.Context(), ref.Name); err != nil {
		p.cfg.Logger.Warn("portal: an API's changelog cannot be read; the page shows none", "api", ref.Name, "err", err)
	}
	// Signed in, the samples carry the developer's own sandbox client id.
	clientID := "YOUR_CLIENT_ID"
	if vw := viewerOf(r.Context()); vw != nil && vw.Developer != nil {
		if id, ok := p.cfg.Developers.SandboxClient(r.Context(), vw.Developer.ID); ok {
			clientID = id
		}
	}
	// Samples carry the base URL and the developer's client id, so they
	// are filled per request on a copy of the operations.
	ops := make([]*operation, len(ref.Operations))
	for i, op := range ref.Operations {
		o := *op
		o.Samples = samples(sampleInput{BaseURL: p.cfg.BaseURL, ClientID: clientID, Op: op})
		ops[i] = &o
	}
	cp := *ref
	cp.Operations = ops
	v.reference = &cp
	p.render(w, r, http.StatusOK, "api", page{Title: ref.Title, Nav: "apis", Data: v})
}

// apiError is the registry error for an API the portal cannot show.
func apiError(err error, name string) error {
	if errors.Is(err, store.ErrNotFound) {
		return problem.Newf(problem.NotFoundResourceNotFound, "There is no API named %q; the catalog at /portal/apis lists every API.", name)
	}
	return problem.FromStore(err, "API", name)
}

// apiDocument serves the OpenAPI document as imported.
func (p *Portal) apiDocument(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	a, err := p.cfg.APIs.GetAPI(r.Context(), name)
	if err != nil {
		p.fail(w, r, apiError(err, name))
		return
	}
	ct := "application/yaml"
	ext := ".yaml"
	if b := bytes.TrimSpace(a.Document); len(b) > 0 && b[0] == '{' {
		ct, ext = "application/json", ".json"
	}
	w.Header().Set("Content-Type", ct+"; charset=utf-8")
	w.Header().Set("Content-Disposition", `inline; filename="`+a.Name+ext+`"`)
	w.Header().Set("Cache-Control", "no-cache")
	webpage.Write(w, r, http.StatusOK, a.Document)
}

// sandboxRules serves the rules table the sandbox answers a sandbox API
// from: the same data as the page's test-number tables.
func (p *Portal) sandboxRules(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ref, err := p.reference(r.Context(), name)
	if err != nil {
		p.fail(w, r, apiError(err, name))
		return
	}
	if !ref.Sandbox {
		p.fail(w, r, problem.Newf(problem.NotFoundResourceNotFound, "%s is not answered by the sandbox, so it has no sandbox rules.", name))
		return
	}
	body, err := json.MarshalIndent(sandbox.Rules(name), "", "  ")
	if err != nil {
		p.fail(w, r, problem.Internal(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	webpage.Write(w, r, http.StatusOK, body)
}

// planView is a plan as the comparison shows it.
// plansView is the plan comparison with its subscribe form.
type plansView struct {
	Plans []planView
	Buy   *buyView
}

type planView struct {
	Name, Price, Description, Rate, Burst, Day, Month string
	Approval                                          bool
	// Sandbox marks the sandbox APIs' free plan, which live APIs are not
	// sold on.
	Sandbox bool
}

func newPlanView(pl *store.Plan) planView {
	count := func(n int64, per string) string {
		if n == 0 {
			return "Unlimited"
		}
		return thousands(n) + " " + per
	}
	v := planView{
		Name: pl.Name, Price: pl.PriceLabel, Description: pl.Description, Approval: pl.RequiresApproval,
		Sandbox: pl.Name == developers.SandboxPlan,
		Day:     count(pl.QuotaDay, "calls"), Month: count(pl.QuotaMonth, "calls"), Rate: "Unlimited", Burst: "—",
	}
	if v.Price == "" {
		v.Price = "Free"
	}
	if pl.RatePerSecond > 0 {
		v.Rate = strconv.FormatFloat(pl.RatePerSecond, 'f', -1, 64) + " calls per second"
		v.Burst = count(pl.Burst, "calls")
	}
	return v
}

func (p *Portal) planViews(r *http.Request) ([]planView, error) {
	plans, err := p.cfg.Plans.ListPlans(r.Context())
	if err != nil {
		return nil, err
	}
	// Cheapest first: by rate, unlimited last, then by name.
	sort.SliceStable(plans, func(i, j int) bool {
		a, b := plans[i].RatePerSecond, plans[j].RatePerSecond
		if (a == 0) != (b == 0) {
			return b == 0
		}
		return a < b
	})
	out := make([]planView, 0, len(plans))
	for _, pl := range plans {
		out = append(out, newPlanView(pl))
	}
	return out, nil
}

// plansPage compares every plan, generated from the plan records.
func (p *Portal) plansPage(w http.ResponseWriter, r *http.Request) {
	plans, err := p.planViews(r)
	if err != nil {
		p.fail(w, r, problem.FromStore(err, "plan", ""))
		return
	}
	buy := p.buyFor(w, r, "", "", plans)
	if buy.SignedIn {
		refs, err := p.references(r.Context())
		if err != nil {
			p.fail(w, r, problem.FromStore(err, "API", ""))
			return
		}
		for _, ref := range refs {
			if ref.Status == store.APILive {
				buy.APIs = append(buy.APIs, ref)
			}
		}
	}
	p.render(w, r, http.StatusOK, "plans", page{Title: "Plans", Nav: "plans", Data: plansView{Plans: plans, Buy: buy}})
}

// llmsTxt is the portal for language models (llmstxt.org): what the
// platform is and a link to every API's Markdown.
func (p *Portal) llmsTxt(w http.ResponseWriter, r *http.Request) {
	refs, err := p.references(r.Context())
	if err != nil {
		p.fail(w, r, problem.FromStore(err, "API", ""))
		return
	}
	var b strings.Builder
	name := p.cfg.Theme.Name
	if name == "" {
		name = "gatehouse"
	}
	fmt.Fprintf(&b, "# %s developer portal\n\n", name)
	b.WriteString("> Network APIs (CAMARA) behind an OAuth 2.0 / OpenID Connect authorization server. Apps get a token at /oauth2/token and call the APIs with it; every error is documented at /docs/errors.\n\n")
	b.WriteString("## APIs\n\n")
	for _, ref := range refs {
		fmt.Fprintf(&b, "- [%s %s](%s/portal/apis/%s.md): %s\n", ref.Title, ref.Version, p.cfg.BaseURL, ref.Name, ref.Summary)
	}
	b.WriteString("\n## Reference\n\n")
	fmt.Fprintf(&b, "- [Error codes and troubleshooting](%s/docs/errors.json): every error, its causes and its fix, as JSON\n", p.cfg.BaseURL)
	fmt.Fprintf(&b, "- [OpenID Connect discovery](%s/.well-known/openid-configuration)\n", p.cfg.BaseURL)
	fmt.Fprintf(&b, "- [Plans](%s/portal/plans)\n", p.cfg.BaseURL)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	webpage.Write(w, r, http.StatusOK, []byte(b.String()))
}

// thousands writes n with comma separators: 5,000,000.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
