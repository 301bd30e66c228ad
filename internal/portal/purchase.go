package portal

import (
	"net/http"

	"gatehouse/internal/developers"
	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// buyView is the subscribe form of the API and plans pages: which of the
// signed-in developer's apps may buy, and which APIs can be bought.
type buyView struct {
	Accounts bool
	SignedIn bool
	// API is the API the form is for ("" on the plans page, which lists
	// APIs to choose from).
	API       string
	APIStatus string
	APIs      []*reference
	Apps      []*developers.AppView
	// CanBuy is false for the developer role (owners and admins buy).
	CanBuy bool
	Plans  []planView
	Next   string
	CSRF   string
}

// buyFor fills the subscribe form for the request's developer.
func (p *Portal) buyFor(w http.ResponseWriter, r *http.Request, api, status string, plans []planView) *buyView {
	b := &buyView{Accounts: p.cfg.Developers != nil, API: api, APIStatus: status, Plans: plans, Next: r.URL.RequestURI()}
	v := viewerOf(r.Context())
	if !b.Accounts || v == nil || v.Developer == nil {
		return b
	}
	b.SignedIn = true
	b.CSRF = p.csrfToken(w, r)
	cur, _, err := p.currentOrg(r, v.Developer)
	if err != nil {
		return b
	}
	b.CanBuy = cur.Role != store.RoleDeveloper
	b.Apps, _ = p.cfg.Developers.Apps(r.Context(), v.Developer.ID, cur.Organization.ID)
	return b
}

// subscribe places a subscription order from the API or plans page and
// shows the app with its subscriptions (and, for its first purchase, its
// production secret, once).
func (p *Portal) subscribe(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil || !p.posted(w, r) {
		return
	}
	appID, api, plan := r.PostFormValue("app"), r.PostFormValue("api"), r.PostFormValue("plan")
	for field, v := range map[string]string{"app": appID, "api": api, "plan": plan} {
		if v == "" {
			p.fail(w, r, problem.Newf(problem.BadRequestInvalidParameter, "Choose the %s to subscribe with.", field).With("field", field))
			return
		}
	}
	out, err := p.cfg.Developers.Subscribe(r.Context(), d.ID, appID, api, plan)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	msg := "Subscribed to " + api + " on the " + plan + " plan: the app's production credentials call it from the next request."
	if out.Subscription.Status != store.SubscriptionActive {
		msg = "Your order for " + api + " on the " + plan + " plan waits for the operator's approval. Once approved, issue the production secret with Rotate secret."
	}
	p.showApp(w, r, http.StatusCreated, appID, out.Credential, "", msg)
}

// subscriptionAction changes the plan of a subscription or cancels it.
func (p *Portal) subscriptionAction(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil || !p.posted(w, r) {
		return
	}
	id := r.PathValue("id")
	switch r.PathValue("action") {
	case "plan":
		plan := r.PostFormValue("plan")
		if plan == "" {
			p.fail(w, r, problem.New(problem.BadRequestInvalidParameter, "Choose the plan to change to.").With("field", "plan"))
			return
		}
		s, app, err := p.cfg.Developers.ChangePlan(r.Context(), d.ID, id, plan)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		msg := "The " + s.API + " subscription is on the " + s.Plan + " plan from the next request."
		if s.PendingPlan != "" {
			msg = "The change to " + s.PendingPlan + " waits for the operator's approval; the " + s.Plan + " plan stays in force until then."
		}
		p.showApp(w, r, http.StatusOK, app.ID, nil, "", msg)
	case "cancel":
		app, err := p.cfg.Developers.Cancel(r.Context(), d.ID, id)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		p.showApp(w, r, http.StatusOK, app.ID, nil, "", "The subscription is cancelled: the app's calls to that API are refused from the next request.")
	default:
		p.fail(w, r, problem.Newf(problem.NotFoundUnknownPath, "There is no subscription action %q.", r.PathValue("action")))
	}
}

// appPurchases is what the app page shows of its purchases.
type appPurchases struct {
	Subscriptions []*developers.Subscription
	Orders        []*developers.Order
	Plans         []planView
}
