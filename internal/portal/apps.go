package portal

import (
	"net/http"
	"strings"

	"gatehouse/internal/developers"
	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// appsView is the apps page of one organisation.
type appsView struct {
	Organization  *store.Organization
	Role          string
	Organizations []developers.Member
	Apps          []*developers.AppView
	Form          *formView
}

// currentOrg is the organisation the apps pages show: ?org= when the
// developer is a member, else their first.
func (p *Portal) currentOrg(r *http.Request, d *store.Developer) (developers.Member, []developers.Member, error) {
	orgs, err := p.cfg.Developers.Organizations(r.Context(), d.ID)
	if err != nil {
		return developers.Member{}, nil, err
	}
	if len(orgs) == 0 {
		return developers.Member{}, nil, problem.New(problem.NotFoundResourceNotFound,
			"You are not a member of any organisation: ask an owner to invite you again.")
	}
	want := r.FormValue("org")
	for _, o := range orgs {
		if o.Organization.ID == want {
			return o, orgs, nil
		}
	}
	return orgs[0], orgs, nil
}

func (p *Portal) appsPage(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil {
		return
	}
	p.renderApps(w, r, d, http.StatusOK, p.newForm(r))
}

func (p *Portal) renderApps(w http.ResponseWriter, r *http.Request, d *store.Developer, status int, f *formView) {
	cur, orgs, err := p.currentOrg(r, d)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	apps, err := p.cfg.Developers.Apps(r.Context(), d.ID, cur.Organization.ID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, status, "apps", page{Title: "Apps", Nav: "apps", Data: appsView{
		Organization: cur.Organization, Role: cur.Role, Organizations: orgs, Apps: apps, Form: f}})
}

func (p *Portal) createApp(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil || !p.posted(w, r) {
		return
	}
	f := p.newForm(r, "name", "redirect_uris", "jwks")
	cur, _, err := p.currentOrg(r, d)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	grants := r.PostForm["grant_types"]
	app, cred, err := p.cfg.Developers.CreateApp(r.Context(), d.ID, cur.Organization.ID, developers.AppSpec{
		Name: f.Values["name"], GrantTypes: grants, RedirectURIs: strings.Fields(f.Values["redirect_uris"]), JWKS: f.Values["jwks"]})
	if !f.fieldError(err) {
		if pe, ok := err.(*problem.Error); ok && pe.Entry.Key == "bad_request" {
			// A client rule refused a value (a redirect URI, the JWKS):
			// show it on the form.
			f.Message = pe.Detail
		} else if err != nil {
			p.fail(w, r, err)
			return
		}
	}
	if err != nil {
		p.renderApps(w, r, d, http.StatusBadRequest, f)
		return
	}
	p.showApp(w, r, http.StatusCreated, app.ID, cred, "", "The app "+app.Name+" is ready, with sandbox credentials.")
}

// appView is an app's page.
type appView struct {
	App  *developers.AppView
	Role string
	// Secret is the credential whose secret this response shows, once.
	Secret  *developers.Credential
	Welcome string
	// Next is the page the developer came from (an API to try).
	Next string
	// TokenURL is the token endpoint, for the samples.
	TokenURL  string
	Purchases appPurchases
	// QuickTry is the first sandbox call, ready to send in one click,
	// when the developer came from a try-it page (next).
	QuickTry *tryView
}

func (p *Portal) appPage(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil {
		return
	}
	p.showApp(w, r, http.StatusOK, r.PathValue("id"), nil, "", "")
}

// showApp renders an app's page; secret, when set, is the credential just
// created or rotated, whose secret appears in this response and no other.
func (p *Portal) showApp(w http.ResponseWriter, r *http.Request, status int, appID string, secret *developers.Credential, next, welcome string) {
	d := viewerOf(r.Context()).Developer
	app, role, err := p.cfg.Developers.App(r.Context(), d.ID, appID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	subs, orders, err := p.cfg.Developers.Subscriptions(r.Context(), app)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	plans, err := p.planViews(r)
	if err != nil {
		p.fail(w, r, problem.FromStore(err, "plan", ""))
		return
	}
	// The page must not be stored anywhere: it may hold a secret.
	w.Header().Set("Cache-Control", "no-store")
	p.render(w, r, status, "app", page{Title: app.Name, Nav: "apps", Data: appView{
		App: app, Role: role, Secret: secret, Welcome: welcome, Next: localNext(next, ""),
		TokenURL:  p.cfg.BaseURL + "/oauth2/token",
		Purchases: appPurchases{Subscriptions: subs, Orders: orders, Plans: plans},
		QuickTry:  p.quickTry(w, r, next)}})
}

// credentialAction runs a button of the credentials table.
func (p *Portal) credentialAction(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil || !p.posted(w, r) {
		return
	}
	appID, env, action := r.PathValue("id"), r.PathValue("env"), r.PathValue("action")
	if env != store.EnvironmentSandbox && env != store.EnvironmentProduction {
		p.fail(w, r, problem.Newf(problem.NotFoundUnknownPath, "There is no %q environment; use sandbox or production.", env))
		return
	}
	ctx := r.Context()
	switch action {
	case "rotate":
		c, err := p.cfg.Developers.RotateSecret(ctx, d.ID, appID, env)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		p.showApp(w, r, http.StatusOK, appID, c, "", "A new secret was issued. The previous one keeps working for the rotation grace period, so deployed apps can switch without downtime.")
	case "revoke":
		if err := p.cfg.Developers.RevokeCredential(ctx, d.ID, appID, env); err != nil {
			p.fail(w, r, err)
			return
		}
		p.showApp(w, r, http.StatusOK, appID, nil, "", "The "+env+" credential is revoked: its tokens stop working within a second.")
	case "create":
		if env != store.EnvironmentSandbox {
			p.fail(w, r, problem.New(problem.IncompatibleStateWrongState,
				"Production credentials come with a live subscription: subscribe the app to a plan for a live API."))
			return
		}
		c, err := p.cfg.Developers.NewSandboxCredential(ctx, d.ID, appID)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		p.showApp(w, r, http.StatusCreated, appID, c, "", "New sandbox credentials were issued.")
	default:
		p.fail(w, r, problem.Newf(problem.NotFoundUnknownPath, "There is no credential action %q.", action))
	}
}

// secretShown answers a request to see a credential's secret again: it
// was shown once, when it was issued, and is stored only as a hash.
func (p *Portal) secretShown(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil {
		return
	}
	if _, _, err := p.cfg.Developers.App(r.Context(), d.ID, r.PathValue("id")); err != nil {
		p.fail(w, r, err)
		return
	}
	p.fail(w, r, problem.New(problem.GoneSecretAlreadyShown,
		"The secret was shown once, when it was issued, and only its hash is kept. Rotate the secret on the app's page to get a new one; the old one keeps working for the rotation grace period."))
}

func (p *Portal) deleteApp(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil || !p.posted(w, r) {
		return
	}
	if err := p.cfg.Developers.DeleteApp(r.Context(), d.ID, r.PathValue("id")); err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/portal/apps", http.StatusSeeOther)
}
