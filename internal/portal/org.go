package portal

import (
	"net/http"
	"net/url"

	"gatehouse/internal/developers"
	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// The organisation page and invitations (developers/members.go holds the
// rules):
//
//	GET  /portal/org                            members, invitations, forms (?org= picks one)
//	POST /portal/org/new                        create another organisation
//	POST /portal/org/invitations                invite an address with a role
//	POST /portal/org/invitations/{id}/withdraw  withdraw an invitation
//	POST /portal/org/members/{id}/role          change a member's role
//	POST /portal/org/members/{id}/remove        remove a member, or leave
//	GET  /portal/invitations/{id}?token=…       an invitation's link
//	POST /portal/invitations/{id}               accept it
//
// Forms that change an organisation name it in an "org" field: unlike the
// pages, they never fall back to another organisation.

// The pages of this file, added to templates.go's list here so that the
// list's owners and this file do not edit the same line.
func init() { pageNames = append(pageNames, "org", "invitation") }

func (p *Portal) orgRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal/org", p.orgPage)
	mux.HandleFunc("POST /portal/org/new", p.createOrg)
	mux.HandleFunc("POST /portal/org/invitations", p.invite)
	mux.HandleFunc("POST /portal/org/invitations/{id}/withdraw", p.withdrawInvitation)
	mux.HandleFunc("POST /portal/org/members/{id}/{action}", p.memberAction)
	mux.HandleFunc("GET /portal/invitations/{id}", p.invitationPage)
	mux.HandleFunc("POST /portal/invitations/{id}", p.acceptInvitation)
}

// orgPageView is the organisation page.
type orgPageView struct {
	// Org is nil when the developer belongs to no organisation.
	Org           *developers.OrgView
	Organizations []developers.Member
	Members       []memberRow
	// CanManage: the viewer invites and manages members.
	CanManage bool
	// Roles are the roles the viewer may give.
	Roles  []string
	Notice string
	// Invited is the invitation just sent.
	Invited        *developers.InvitationView
	MailConfigured bool
	// Form is the invitation form; NewOrg the new organisation's.
	Form, NewOrg *formView
}

// memberRow is a member with what the viewer may do to them.
type memberRow struct {
	developers.MemberView
	You bool
	// Roles are the roles the viewer may give this member (none: no
	// role form).
	Roles []string
	// Remove: the viewer may remove this member (Leave, for themselves).
	Remove, Leave bool
	// LastOwner: the member is the only owner.
	LastOwner bool
}

func (p *Portal) orgPage(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil {
		return
	}
	p.renderOrg(w, r, d, http.StatusOK, r.FormValue("org"), orgPageView{Form: p.newForm(r), NewOrg: p.newForm(r)})
}

// renderOrg shows the organisation orgID (or the developer's first).
func (p *Portal) renderOrg(w http.ResponseWriter, r *http.Request, d *store.Developer, status int, orgID string, v orgPageView) {
	ctx := r.Context()
	orgs, err := p.cfg.Developers.Organizations(ctx, d.ID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	v.Organizations, v.MailConfigured = orgs, p.cfg.Developers.MailConfigured()
	if v.Form == nil {
		v.Form = p.newForm(r)
	}
	if v.NewOrg == nil {
		v.NewOrg = p.newForm(r)
	}
	if len(orgs) > 0 {
		cur := orgs[0].Organization.ID
		for _, o := range orgs {
			if o.Organization.ID == orgID {
				cur = orgID
			}
		}
		if v.Org, err = p.cfg.Developers.Organization(ctx, d.ID, cur); err != nil {
			p.fail(w, r, err)
			return
		}
		v.CanManage = developers.CanManage(v.Org.Role)
		v.Roles = grantable(v.Org.Role)
		for _, m := range v.Org.Members {
			v.Members = append(v.Members, p.memberRow(d, v.Org, m))
		}
	}
	title := "Organisation"
	if v.Org != nil {
		title = v.Org.Organization.Name
	}
	w.Header().Set("Cache-Control", "no-store") // it may show an invitation link
	p.render(w, r, status, "org", page{Title: title, Nav: "org", Data: v})
}

// grantable returns the roles a role may give.
func grantable(role string) []string {
	switch role {
	case store.RoleOwner:
		return developers.Roles
	case store.RoleAdmin:
		return []string{store.RoleAdmin, store.RoleDeveloper}
	}
	return nil
}

// memberRow mirrors developers' rules for the buttons; the rules
// themselves are applied again on every post.
func (p *Portal) memberRow(d *store.Developer, o *developers.OrgView, m developers.MemberView) memberRow {
	row := memberRow{MemberView: m, You: m.DeveloperID == d.ID, LastOwner: m.Role == store.RoleOwner && o.Owners <= 1}
	touchable := o.Role == store.RoleOwner || (o.Role == store.RoleAdmin && m.Role != store.RoleOwner)
	if touchable && !row.LastOwner {
		row.Roles = grantable(o.Role)
	}
	switch {
	case row.You:
		row.Leave = !row.LastOwner
	case touchable:
		row.Remove = !row.LastOwner
	}
	return row
}

// orgOf is the organisation a form names: required, and the developer's.
func (p *Portal) orgOf(w http.ResponseWriter, r *http.Request, d *store.Developer) string {
	id := r.PostFormValue("org")
	if id == "" {
		p.fail(w, r, problem.New(problem.BadRequestInvalidParameter, "The form does not name its organisation (org); reload the page and send it again.").With("field", "org"))
		return ""
	}
	if _, err := p.cfg.Developers.Role(r.Context(), d.ID, id); err != nil {
		p.fail(w, r, err)
		return ""
	}
	return id
}

func (p *Portal) createOrg(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil || !p.posted(w, r) {
		return
	}
	f := p.newForm(r, "name")
	s, err := p.cfg.Developers.CreateOrganization(r.Context(), d.ID, f.Values["name"])
	if f.fieldError(err) {
		p.renderOrg(w, r, d, http.StatusBadRequest, r.PostFormValue("org"), orgPageView{NewOrg: f})
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.showApp(w, r, http.StatusCreated, s.App.ID, s.Credential, "",
		"Your organisation "+s.Organization.Name+" is ready, with its first app and sandbox credentials. Invite its members from the Organisation page.")
}

func (p *Portal) invite(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil || !p.posted(w, r) {
		return
	}
	orgID := p.orgOf(w, r, d)
	if orgID == "" {
		return
	}
	f := p.newForm(r, "email", "role")
	inv, err := p.cfg.Developers.Invite(r.Context(), d.ID, orgID, f.Values["email"], f.Values["role"])
	if f.fieldError(err) {
		p.renderOrg(w, r, d, http.StatusBadRequest, orgID, orgPageView{Form: f})
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	notice := "Invitation sent to " + inv.Email + " as " + inv.Role + "; it works for 7 days."
	if !p.cfg.Developers.MailConfigured() {
		notice = "Invitation created for " + inv.Email + " as " + inv.Role + ". This portal sends no e-mail: pass the link below on to them."
	}
	p.renderOrg(w, r, d, http.StatusCreated, orgID, orgPageView{Notice: notice, Invited: inv})
}

func (p *Portal) withdrawInvitation(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil || !p.posted(w, r) {
		return
	}
	orgID, err := p.cfg.Developers.WithdrawInvitation(r.Context(), d.ID, r.PathValue("id"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.renderOrg(w, r, d, http.StatusOK, orgID, orgPageView{Notice: "The invitation is withdrawn: its link no longer works."})
}

func (p *Portal) memberAction(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil || !p.posted(w, r) {
		return
	}
	orgID := p.orgOf(w, r, d)
	if orgID == "" {
		return
	}
	ctx, member := r.Context(), r.PathValue("id")
	switch r.PathValue("action") {
	case "role":
		role := r.PostFormValue("role")
		if err := p.cfg.Developers.SetRole(ctx, d.ID, orgID, member, role); err != nil {
			p.fail(w, r, err)
			return
		}
		p.renderOrg(w, r, d, http.StatusOK, orgID, orgPageView{Notice: "The role is changed to " + role + "."})
	case "remove":
		if err := p.cfg.Developers.RemoveMember(ctx, d.ID, orgID, member); err != nil {
			p.fail(w, r, err)
			return
		}
		if member == d.ID {
			p.renderOrg(w, r, d, http.StatusOK, "", orgPageView{Notice: "You left the organisation: its apps are no longer yours to see."})
			return
		}
		p.renderOrg(w, r, d, http.StatusOK, orgID, orgPageView{Notice: "The member is removed from the organisation."})
	default:
		p.fail(w, r, problem.Newf(problem.NotFoundUnknownPath, "There is no member action %q; use role or remove.", r.PathValue("action")))
	}
}

// invitationView is an invitation's page.
type invitationView struct {
	Invitation *developers.InvitationView
	Token      string
	// Next is this page, for the sign-in and sign-up links.
	Next           string
	MailConfigured bool
}

func (p *Portal) invitationPage(w http.ResponseWriter, r *http.Request) {
	id, token := r.PathValue("id"), r.FormValue("token")
	inv, err := p.cfg.Developers.OpenInvitation(r.Context(), id, token)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if d := viewerOf(r.Context()).Developer; d != nil {
		if err := inv.CheckAddressee(d); err != nil {
			p.fail(w, r, err)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store") // the link is a credential of sorts
	p.render(w, r, http.StatusOK, "invitation", page{Title: "Join " + inv.Organization.Name, Data: invitationView{
		Invitation: inv, Token: token, MailConfigured: p.cfg.Developers.MailConfigured(),
		Next: "/portal/invitations/" + url.PathEscape(id) + "?token=" + url.QueryEscape(token)}})
}

func (p *Portal) acceptInvitation(w http.ResponseWriter, r *http.Request) {
	d := p.requireDeveloper(w, r)
	if d == nil || !p.posted(w, r) {
		return
	}
	inv, err := p.cfg.Developers.AcceptInvitation(r.Context(), d, r.PathValue("id"), r.PostFormValue("token"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.cfg.Logger.InfoContext(r.Context(), "developer joined an organisation", "developer_id", d.ID,
		"organization_id", inv.OrganizationID, "role", inv.Role, "correlator", problem.Correlator(r.Context()))
	http.Redirect(w, r, "/portal/apps?org="+url.QueryEscape(inv.OrganizationID), http.StatusSeeOther)
}
