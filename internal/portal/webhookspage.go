package portal

import (
	"net/http"
	"net/url"
	"strings"

	"gatehouse/internal/developers"
	"gatehouse/internal/problem"
	"gatehouse/internal/store"
	"gatehouse/internal/webhooks"
)

// Webhooks (issue 13 §3): an organisation's endpoints, the log of what
// was sent to them, a "send a test event" button; owners and admins add
// and delete endpoints. The signing secret is shown once, when added.
//
//	GET  /portal/org/webhooks?org=…
//	POST /portal/org/webhooks                 add one (url, events)
//	POST /portal/org/webhooks/{id}/test       send it a test event
//	POST /portal/org/webhooks/{id}/delete     delete it

func init() { pageNames = append(pageNames, "webhooks") }

// deliveriesShown is how many deliveries the log shows.
const deliveriesShown = 50

func (p *Portal) webhookRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal/org/webhooks", p.webhooksPage)
	mux.HandleFunc("POST /portal/org/webhooks", p.addWebhook)
	mux.HandleFunc("POST /portal/org/webhooks/{id}/{action}", p.webhookAction)
}

type webhooksView struct {
	Organization  *store.Organization
	Organizations []developers.Member
	CanManage     bool
	Endpoints     []*webhooks.Endpoint
	Deliveries    []*store.WebhookDelivery
	EventTypes    []string
	Form          *formView
	Notice        string
	// Secret is the endpoint just added's, shown this once.
	Secret, SecretURL string
}

func (p *Portal) webhooksPage(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil {
		return
	}
	p.renderWebhooks(w, r, d, http.StatusOK, webhooksView{})
}

func (p *Portal) renderWebhooks(w http.ResponseWriter, r *http.Request, d *store.Developer, status int, v webhooksView) {
	ctx := r.Context()
	cur, orgs, err := p.currentOrg(r, d)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	v.Organization, v.Organizations, v.CanManage, v.EventTypes = cur.Organization, orgs, developers.CanManage(cur.Role), webhooks.EventTypes
	if v.Form == nil {
		v.Form = p.newForm(r)
	}
	if v.Endpoints, err = p.cfg.Webhooks.List(ctx, cur.Organization.ID); err != nil {
		p.fail(w, r, err)
		return
	}
	if v.Deliveries, err = p.cfg.Webhooks.Deliveries(ctx, cur.Organization.ID, deliveriesShown); err != nil {
		p.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store") // it may show a secret
	p.render(w, r, status, "webhooks", page{Title: "Webhooks", Nav: "org", Data: v})
}

// managedOrg reads a webhook form: the signed-in developer and the
// organisation it names, when they may manage it; otherwise it answered
// and returns nil.
func (p *Portal) managedOrg(w http.ResponseWriter, r *http.Request) (*store.Developer, string) {
	d := p.requireDeveloper(w, r)
	if d == nil || !p.posted(w, r) {
		return nil, ""
	}
	orgID := p.orgOf(w, r, d)
	if orgID == "" {
		return nil, ""
	}
	role, _ := p.cfg.Developers.Role(r.Context(), d.ID, orgID)
	if !developers.CanManage(role) {
		p.fail(w, r, problem.New(problem.PermissionDeniedRoleInsufficient, "Only the organisation's owners and admins change its webhooks; ask one of them."))
		return nil, ""
	}
	// The page shows this organisation next.
	r.Form.Set("org", orgID)
	r.URL.RawQuery = url.Values{"org": {orgID}}.Encode()
	return d, orgID
}

func (p *Portal) addWebhook(w http.ResponseWriter, r *http.Request) {
	d, orgID := p.managedOrg(w, r)
	if d == nil {
		return
	}
	f := p.newForm(r, "url")
	ep, secret, err := p.cfg.Webhooks.Create(r.Context(), orgID, f.Values["url"], r.PostForm["events"])
	if pe := problem.From(err); err != nil && pe.Status() == http.StatusBadRequest {
		f.Errors = map[string]string{"url": pe.Detail}
		if field, _ := pe.Extra["field"].(string); field == "events" {
			f.Errors = map[string]string{"events": pe.Detail}
		}
		p.renderWebhooks(w, r, d, http.StatusBadRequest, webhooksView{Form: f})
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.renderWebhooks(w, r, d, http.StatusCreated, webhooksView{Secret: secret, SecretURL: ep.URL,
		Notice: "Webhook added. Send it a test event to check that your endpoint verifies the signature."})
}

func (p *Portal) webhookAction(w http.ResponseWriter, r *http.Request) {
	d, orgID := p.managedOrg(w, r)
	if d == nil {
		return
	}
	id, notice := r.PathValue("id"), ""
	var err error
	switch r.PathValue("action") {
	case "test":
		err, notice = p.cfg.Webhooks.SendTest(r.Context(), orgID, id), "Test event queued: it shows in the log below within seconds."
	case "delete":
		err, notice = p.cfg.Webhooks.Delete(r.Context(), orgID, id), "Webhook deleted, with its deliveries."
	default:
		err = problem.Newf(problem.NotFoundUnknownPath, "A webhook takes test or delete, not %q.", r.PathValue("action"))
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.renderWebhooks(w, r, d, http.StatusOK, webhooksView{Notice: notice})
}

// eventList says an endpoint's events briefly.
func eventList(events []string) string {
	if len(events) == len(webhooks.EventTypes) {
		return "every event"
	}
	return strings.Join(events, ", ")
}
