package developers

import (
	"context"
	"encoding/json"
	"errors"
	"gatehouse/internal/webhooks"
	"slices"

	"gatehouse/internal/oauth"
	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// Member is a developer's place in an organisation, as the portal shows it.
type Member struct {
	Organization *store.Organization
	Role         string
}

// Organizations returns the developer's organisations, oldest membership
// first.
func (m *Manager) Organizations(ctx context.Context, developerID string) ([]Member, error) {
	ms, err := m.Store.ListMemberships(ctx, developerID)
	if err != nil {
		return nil, problem.FromStore(err, "developer", developerID)
	}
	out := make([]Member, 0, len(ms))
	for _, ms := range ms {
		o, err := m.Store.GetOrganization(ctx, ms.OrganizationID)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted since the list was read
		}
		if err != nil {
			return nil, problem.FromStore(err, "organization", ms.OrganizationID)
		}
		out = append(out, Member{Organization: o, Role: ms.Role})
	}
	return out, nil
}

// setUp gives a newly verified developer an organisation (unless they are
// already a member of one, through an invitation) with a default sandbox
// app and its credential.
func (m *Manager) setUp(ctx context.Context, d *store.Developer, orgName string) (*Setup, error) {
	existing, err := m.Organizations(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	if len(existing) > 0 {
		return &Setup{Organization: existing[0].Organization}, nil
	}
	if orgName == "" {
		orgName = d.Name + "'s team"
	}
	return m.newOrganization(ctx, d.ID, orgName)
}

// newOrganization creates an organisation with owner as its owner, and its
// default sandbox app and credential.
func (m *Manager) newOrganization(ctx context.Context, owner, name string) (*Setup, error) {
	now := m.now()
	o := &store.Organization{ID: randomID("org_"), Name: name, CreatedAt: now, UpdatedAt: now}
	if err := m.Store.CreateOrganization(ctx, o, owner); err != nil {
		return nil, problem.FromStore(err, "organization", o.ID)
	}
	app, cred, err := m.createApp(ctx, o.ID, "My first app", AppSpec{})
	if err != nil {
		return nil, err
	}
	return &Setup{Organization: o, App: app, Credential: cred}, nil
}

// Role returns the developer's role in the organisation; a
// permission_denied error when they are not a member (the organisation's
// existence is not revealed).
func (m *Manager) Role(ctx context.Context, developerID, orgID string) (string, error) {
	ms, err := m.Store.GetMembership(ctx, orgID, developerID)
	if errors.Is(err, store.ErrNotFound) {
		return "", notYours("organisation", orgID)
	}
	if err != nil {
		return "", problem.FromStore(err, "organization", orgID)
	}
	return ms.Role, nil
}

// notYours is the answer for a record of another organisation: the same as
// for one that does not exist, so ids cannot be probed.
func notYours(kind, id string) error {
	return problem.Newf(problem.NotFoundResourceNotFound, "There is no %s %q among yours.", kind, id)
}

// AppSpec is what the app form sets.
type AppSpec struct {
	Name string
	// GrantTypes; nil means client credentials only.
	GrantTypes   []string
	RedirectURIs []string
	// JWKS, when set, makes the credential authenticate with
	// private_key_jwt instead of a secret.
	JWKS string
}

// AppView is an app with its credentials, for the pages.
type AppView struct {
	*store.App
	Sandbox    *oauth.ClientView
	Production *oauth.ClientView
}

// App returns one of the organisation's apps, checking that the developer
// is a member.
func (m *Manager) App(ctx context.Context, developerID, appID string) (*AppView, string, error) {
	a, err := m.Store.GetApp(ctx, appID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", notYours("app", appID)
	}
	if err != nil {
		return nil, "", problem.FromStore(err, "app", appID)
	}
	role, err := m.Role(ctx, developerID, a.OrganizationID)
	if err != nil {
		return nil, "", notYours("app", appID)
	}
	clients, err := m.Store.ListAppClients(ctx, appID)
	if err != nil {
		return nil, "", problem.FromStore(err, "app", appID)
	}
	v := &AppView{App: a}
	for _, c := range clients {
		switch c.Environment {
		case store.EnvironmentSandbox:
			v.Sandbox = oauth.View(c)
		case store.EnvironmentProduction:
			v.Production = oauth.View(c)
		}
	}
	return v, role, nil
}

// Apps returns the organisation's apps with their credentials.
func (m *Manager) Apps(ctx context.Context, developerID, orgID string) ([]*AppView, error) {
	if _, err := m.Role(ctx, developerID, orgID); err != nil {
		return nil, err
	}
	apps, err := m.Store.ListApps(ctx, orgID)
	if err != nil {
		return nil, problem.FromStore(err, "organization", orgID)
	}
	out := make([]*AppView, 0, len(apps))
	for _, a := range apps {
		v, _, err := m.App(ctx, developerID, a.ID)
		if err != nil {
			continue // deleted meanwhile
		}
		out = append(out, v)
	}
	return out, nil
}

// CreateApp adds an app with its sandbox credential; the secret is in the
// returned view, the one time it is shown.
func (m *Manager) CreateApp(ctx context.Context, developerID, orgID string, spec AppSpec) (*store.App, *oauth.ClientView, error) {
	if _, err := m.Role(ctx, developerID, orgID); err != nil {
		return nil, nil, err
	}
	name, err := checkName("name", "an app name", spec.Name)
	if err != nil {
		return nil, nil, err
	}
	return m.createApp(ctx, orgID, name, spec)
}

func (m *Manager) createApp(ctx context.Context, orgID, name string, spec AppSpec) (*store.App, *oauth.ClientView, error) {
	now := m.now()
	a := &store.App{ID: randomID("app_"), OrganizationID: orgID, Name: name, CreatedAt: now, UpdatedAt: now}
	if err := m.Store.CreateApp(ctx, a); err != nil {
		return nil, nil, problem.FromStore(err, "app", a.ID)
	}
	spec.Name = name
	cred, err := m.createCredential(ctx, a, store.EnvironmentSandbox, spec)
	if err != nil {
		// Without its credential the app is of no use: remove it, so the
		// form can simply be sent again.
		_ = m.Store.DeleteApp(context.WithoutCancel(ctx), a.ID)
		return nil, nil, err
	}
	return a, cred, nil
}

// createCredential registers the app's client for an environment.
func (m *Manager) createCredential(ctx context.Context, a *store.App, env string, spec AppSpec) (*oauth.ClientView, error) {
	name := a.Name + " (" + env + ")"
	grants := spec.GrantTypes
	if len(grants) == 0 {
		grants = []string{oauth.GrantClientCredentials}
	}
	var scopes []string
	if env == store.EnvironmentSandbox && m.SandboxScopes != nil {
		var err error
		if scopes, err = m.SandboxScopes(ctx); err != nil {
			return nil, err
		}
	}
	cs := oauth.ClientSpec{Name: &name, GrantTypes: &grants, Scopes: &scopes, AppID: a.ID, Environment: env}
	if len(spec.RedirectURIs) > 0 {
		cs.RedirectURIs = &spec.RedirectURIs
	}
	if spec.JWKS != "" {
		method := oauth.AuthPrivateKeyJWT
		jwks := json.RawMessage(spec.JWKS)
		cs.TokenEndpointAuthMethod, cs.JWKS = &method, &jwks
	}
	return m.Clients.Create(ctx, cs)
}

// credential returns the app's client for env after checking the
// developer's access.
func (m *Manager) credential(ctx context.Context, developerID, appID, env string) (*AppView, *oauth.ClientView, error) {
	v, _, err := m.App(ctx, developerID, appID)
	if err != nil {
		return nil, nil, err
	}
	c := v.Sandbox
	if env == store.EnvironmentProduction {
		c = v.Production
	}
	if c == nil {
		return v, nil, problem.Newf(problem.NotFoundResourceNotFound, "The app %q has no %s credential.", v.Name, env)
	}
	return v, c, nil
}

// RotateSecret issues a new secret for the app's credential in env; the
// previous one keeps working for the rotation grace period.
func (m *Manager) RotateSecret(ctx context.Context, developerID, appID, env string) (*oauth.ClientView, error) {
	app, c, err := m.credential(ctx, developerID, appID, env)
	if err != nil {
		return nil, err
	}
	v, err := m.Clients.RotateSecret(ctx, c.ClientID)
	if err == nil && m.Notify != nil {
		data := map[string]any{"app_id": app.ID, "app": app.Name, "environment": env, "client_id": c.ClientID,
			"rotated_by": developerID}
		if v.PreviousSecretExpiresAt != nil {
			data["previous_secret_expires_at"] = v.PreviousSecretExpiresAt.UTC()
		}
		m.Notify(ctx, app.OrganizationID, webhooks.EventSecretRotated, data)
	}
	return v, err
}

// RevokeCredential deletes the app's credential in env: its tokens stop
// working within the client cache's refresh (a second) on every node. A
// sandbox credential can be created again (NewCredential).
func (m *Manager) RevokeCredential(ctx context.Context, developerID, appID, env string) error {
	_, c, err := m.credential(ctx, developerID, appID, env)
	if err != nil {
		return err
	}
	return m.Clients.Delete(ctx, c.ClientID)
}

// NewSandboxCredential gives an app whose sandbox credential was revoked a
// new one.
func (m *Manager) NewSandboxCredential(ctx context.Context, developerID, appID string) (*oauth.ClientView, error) {
	v, _, err := m.App(ctx, developerID, appID)
	if err != nil {
		return nil, err
	}
	if v.Sandbox != nil {
		return nil, problem.Newf(problem.AlreadyExistsDuplicate, "The app %q already has a sandbox credential; rotate its secret instead.", v.Name)
	}
	return m.createCredential(ctx, v.App, store.EnvironmentSandbox, AppSpec{GrantTypes: v.grants()})
}

func (v *AppView) grants() []string {
	for _, c := range []*oauth.ClientView{v.Sandbox, v.Production} {
		if c != nil {
			return slices.Clone(c.GrantTypes)
		}
	}
	return nil
}

// DeleteApp deletes an app with its credentials; owners and admins only.
func (m *Manager) DeleteApp(ctx context.Context, developerID, appID string) error {
	v, role, err := m.App(ctx, developerID, appID)
	if err != nil {
		return err
	}
	if role == store.RoleDeveloper {
		return problem.New(problem.PermissionDeniedRoleInsufficient, "Only the organisation's owners and admins can delete its apps.")
	}
	clients := []*oauth.ClientView{v.Sandbox, v.Production}
	if err := m.Store.DeleteApp(ctx, appID); err != nil {
		return problem.FromStore(err, "app", appID)
	}
	for _, c := range clients {
		if c != nil && m.Clients.OnChange != nil {
			m.Clients.OnChange(c.ClientID)
		}
	}
	return nil
}

// SandboxClient returns the client id of the developer's first app's
// sandbox credential in their first organisation, and whether there is one.
func (m *Manager) SandboxClient(ctx context.Context, developerID string) (string, bool) {
	return m.AppClient(ctx, developerID, store.EnvironmentSandbox)
}

// AppClient returns the client id of the first active credential of
// environment env among the apps of the developer's first organisation
// (what the try console calls with), and whether there is one.
func (m *Manager) AppClient(ctx context.Context, developerID, env string) (string, bool) {
	orgs, err := m.Organizations(ctx, developerID)
	if err != nil || len(orgs) == 0 {
		return "", false
	}
	apps, err := m.Apps(ctx, developerID, orgs[0].Organization.ID)
	if err != nil {
		return "", false
	}
	for _, a := range apps {
		c := a.Sandbox
		if env == store.EnvironmentProduction {
			c = a.Production
		}
		if c != nil && c.Status == store.ClientActive {
			return c.ClientID, true
		}
	}
	return "", false
}

// SetAppStatus suspends (store.ClientSuspended) or reinstates
// (store.ClientActive) every credential of an app, for the operator: a
// suspended app's tokens are refused with 403 permission_denied /
// app_suspended and it gets no new ones. It returns the app's
// organisation.
func (m *Manager) SetAppStatus(ctx context.Context, appID, status string) (*store.App, error) {
	a, err := m.Store.GetApp(ctx, appID)
	if err != nil {
		return nil, problem.FromStore(err, "app", appID)
	}
	clients, err := m.Store.ListAppClients(ctx, appID)
	if err != nil {
		return nil, problem.FromStore(err, "app", appID)
	}
	for _, c := range clients {
		if _, err := m.Clients.Update(ctx, c.ID, oauth.ClientSpec{Status: &status}); err != nil {
			return nil, err
		}
	}
	if status == store.ClientSuspended && m.Notify != nil {
		m.Notify(ctx, a.OrganizationID, webhooks.EventAppSuspended, map[string]any{"app_id": a.ID, "app": a.Name})
	}
	return a, nil
}
