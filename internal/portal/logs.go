package portal

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/developers"
	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// The request log (issue 13 §1): /portal/logs lists the calls of the
// signed-in developer's organisation, filtered by app, API, status, error
// and time; /portal/logs/{correlator} explains one call stage by stage,
// with the registry's cause and fix. A developer sees only the calls of
// organisations they belong to: another organisation's correlator is the
// registry's 404, exactly like one never seen.

// LogReader is the request log as the portal reads it (store.RequestLogs).
type LogReader interface {
	ListRequestLogs(ctx context.Context, f store.RequestLogFilter) ([]store.RequestLog, error)
	RequestLogsByCorrelator(ctx context.Context, organizationID, correlator string, limit int) ([]store.RequestLog, error)
}

// logsPageSize is how many calls one page of the log shows.
const logsPageSize = 50

// sameCorrelator is how many calls with one correlator the diagnosis
// shows: clients choose correlators, and may repeat them.
const sameCorrelator = 5

func (p *Portal) logsOn() bool { return p.cfg.Logs != nil && p.cfg.Developers != nil }

func (p *Portal) logRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal/logs", p.logsPage)
	mux.HandleFunc("GET /portal/logs/{correlator}", p.diagnosisPage)
}

// DiagnosisPath is the path of the diagnosis page of the calls with the
// correlator.
func DiagnosisPath(correlator string) string {
	return "/portal/logs/" + url.PathEscape(correlator)
}

// logsSince are the time filter's choices.
var logsSince = []struct{ Value, Label string }{
	{"1h", "Last hour"}, {"24h", "Last 24 hours"}, {"168h", "Last 7 days"}, {"", "Everything kept"},
}

// logsView is the request log page.
type logsView struct {
	Organization  *store.Organization
	Organizations []developers.Member
	Apps          []*developers.AppView
	APIs          []string
	Errors        []*problem.Entry
	Since         []struct{ Value, Label string }
	// Filter holds the query's filters as given.
	Filter     map[string]string
	Filtered   bool
	Calls      []callRow
	Next       string // the next (older) page, "" on the last
	Retention  string
	ClearQuery string
}

// callRow is one call in the list.
type callRow struct {
	store.RequestLog
	App       string // the app's name, or its ID
	Diagnosis string
}

func (p *Portal) logsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if c := strings.TrimSpace(q.Get("correlator")); c != "" {
		// The "paste your x-correlator" box: the call's diagnosis, at
		// once (a redirect would cost the developer a round trip).
		p.showDiagnosis(w, r, c)
		return
	}
	d := p.requireDeveloper(w, r)
	if d == nil {
		return
	}
	p.syncLogs(r)
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
	v := logsView{Organization: cur.Organization, Organizations: orgs, Apps: apps, Since: logsSince,
		Filter: map[string]string{}, Retention: days(p.cfg.LogRetention), ClearQuery: "?org=" + url.QueryEscape(cur.Organization.ID)}
	f := store.RequestLogFilter{OrganizationID: cur.Organization.ID, Limit: logsPageSize}
	for _, k := range []string{"app", "api", "status", "error", "since"} {
		v.Filter[k] = q.Get(k)
		v.Filtered = v.Filtered || v.Filter[k] != ""
	}
	f.AppID, f.APIName, f.ErrorKey = q.Get("app"), q.Get("api"), q.Get("error")
	if pe := parseStatusFilter(q.Get("status"), &f); pe != nil {
		p.fail(w, r, pe)
		return
	}
	if s := q.Get("since"); s != "" {
		ok := false
		for _, c := range logsSince {
			ok = ok || (c.Value == s && s != "")
		}
		dur, err := time.ParseDuration(s)
		if !ok || err != nil {
			p.fail(w, r, problem.Newf(problem.BadRequestInvalidParameter, "since=%q is not one of the time filter's choices.", s))
			return
		}
		f.From = p.cfg.now().Add(-dur)
	}
	if s := q.Get("after"); s != "" {
		after, pe := parseCursor(s)
		if pe != nil {
			p.fail(w, r, pe)
			return
		}
		f.After = after
	}
	calls, err := p.cfg.Logs.ListRequestLogs(r.Context(), f)
	if err != nil {
		p.fail(w, r, problem.FromStore(err, "request log", cur.Organization.ID))
		return
	}
	names := appNames(apps)
	for _, c := range calls {
		v.Calls = append(v.Calls, callRow{RequestLog: c, App: names.of(c.AppID), Diagnosis: DiagnosisPath(c.Correlator)})
	}
	if len(calls) == logsPageSize {
		next := url.Values{}
		for k, val := range v.Filter {
			if val != "" {
				next.Set(k, val)
			}
		}
		next.Set("org", cur.Organization.ID)
		last := calls[len(calls)-1]
		next.Set("after", strconv.FormatInt(last.Time.UnixNano(), 10)+"."+strconv.FormatInt(last.ID, 10))
		v.Next = "/portal/logs?" + next.Encode()
	}
	if apis, err := p.cfg.APIs.ListAPIs(r.Context()); err == nil {
		for _, a := range apis {
			v.APIs = append(v.APIs, a.Name)
		}
	}
	for _, e := range problem.Catalog() {
		if e.CamaraCode != "" {
			v.Errors = append(v.Errors, e)
		}
	}
	slices.SortFunc(v.Errors, func(a, b *problem.Entry) int { return strings.Compare(a.Key, b.Key) })
	p.render(w, r, http.StatusOK, "logs", page{Title: "Request log", Nav: "logs", Data: v})
}

// parseStatusFilter reads status=: a class (2xx … 5xx) or one status.
func parseStatusFilter(s string, f *store.RequestLogFilter) *problem.Error {
	if s == "" {
		return nil
	}
	if len(s) == 3 && strings.HasSuffix(s, "xx") && s[0] >= '1' && s[0] <= '5' {
		f.StatusClass = int(s[0] - '0')
		return nil
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 100 && n <= 599 {
		f.Status = n
		return nil
	}
	return problem.Newf(problem.BadRequestInvalidParameter, "status=%q is neither a class such as 4xx nor a status such as 429.", s)
}

// parseCursor reads after=: the Time (Unix nanoseconds) and ID of the
// last call of the previous page.
func parseCursor(s string) (*store.RequestLog, *problem.Error) {
	ts, id, ok := strings.Cut(s, ".")
	n, err1 := strconv.ParseInt(ts, 10, 64)
	i, err2 := strconv.ParseInt(id, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return nil, problem.Newf(problem.BadRequestInvalidParameter, "after=%q is not a position in the request log; follow the page's own links.", s)
	}
	return &store.RequestLog{Time: time.Unix(0, n).UTC(), ID: i}, nil
}

// days says a retention in words.
func days(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	if d >= 48*time.Hour {
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	}
	return fmt.Sprintf("%d hours", int(d/time.Hour))
}

type appNameMap map[string]string

func appNames(apps []*developers.AppView) appNameMap {
	m := appNameMap{}
	for _, a := range apps {
		m[a.ID] = a.Name
	}
	return m
}

func (m appNameMap) of(id string) string {
	if n, ok := m[id]; ok {
		return n
	}
	return id
}

// diagnosisView is the diagnosis page of one correlator.
type diagnosisView struct {
	Correlator string
	Calls      []diagnosis
	Retention  string
}

// diagnosis is one call explained.
type diagnosis struct {
	Call   store.RequestLog
	App    string
	Org    string
	Stages []stageRow
	// Entry is the registry error the call failed with (nil on
	// success); Cause its cause's text and DocURL its troubleshooting
	// anchor.
	Entry  *problem.Entry
	Cause  string
	DocURL string
	// TryURL runs the operation again in the try-it console (sandbox
	// calls only).
	TryURL string
}

// stageRow is one stage of the pipeline as the call went through it.
type stageRow struct {
	Label  string
	State  string // passed, failed, answered, skipped, not reached
	Detail string
}

func (p *Portal) diagnosisPage(w http.ResponseWriter, r *http.Request) {
	p.showDiagnosis(w, r, r.PathValue("correlator"))
}

// showDiagnosis answers the diagnosis page of the calls with correlator.
func (p *Portal) showDiagnosis(w http.ResponseWriter, r *http.Request, correlator string) {
	d := p.requireDeveloper(w, r)
	if d == nil {
		return
	}
	p.syncLogs(r)
	orgs, err := p.cfg.Developers.Organizations(r.Context(), d.ID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	v := diagnosisView{Correlator: correlator, Retention: days(p.cfg.LogRetention)}
	var calls []store.RequestLog
	orgName := map[string]string{}
	for _, o := range orgs {
		cs, err := p.cfg.Logs.RequestLogsByCorrelator(r.Context(), o.Organization.ID, correlator, sameCorrelator)
		if err != nil {
			p.fail(w, r, problem.FromStore(err, "request log", correlator))
			return
		}
		calls = append(calls, cs...)
		orgName[o.Organization.ID] = o.Organization.Name
	}
	if len(calls) == 0 {
		p.fail(w, r, problem.Newf(problem.NotFoundResourceNotFound,
			"No call with the correlator %q is in your organisations' request log. Calls show within two seconds; they are kept for %s, and only your organisations' calls are shown.",
			correlator, cmpOr(v.Retention, "a limited time")))
		return
	}
	slices.SortStableFunc(calls, func(a, b store.RequestLog) int { return b.Time.Compare(a.Time) })
	calls = calls[:min(len(calls), sameCorrelator)]
	names := map[string]appNameMap{}
	for _, c := range calls {
		if _, ok := names[c.OrganizationID]; !ok {
			apps, err := p.cfg.Developers.Apps(r.Context(), d.ID, c.OrganizationID)
			if err != nil {
				p.fail(w, r, err)
				return
			}
			names[c.OrganizationID] = appNames(apps)
		}
		v.Calls = append(v.Calls, p.diagnose(c, names[c.OrganizationID].of(c.AppID), orgName[c.OrganizationID]))
	}
	p.render(w, r, http.StatusOK, "diagnosis", page{Title: "Correlator " + correlator, Nav: "logs", Data: v})
}

// syncLogs writes the calls recorded so far, when the portal can.
func (p *Portal) syncLogs(r *http.Request) {
	p.sync(r, p.cfg.SyncLogs, "the latest calls to the request log")
}

// sync runs a recorder's flush (nil: none) before a page reads what it
// writes, so that a call made a moment ago shows; a failure is logged and
// the page shows what is written.
func (p *Portal) sync(r *http.Request, flush func(context.Context) error, what string) {
	if flush == nil {
		return
	}
	if err := flush(r.Context()); err != nil {
		p.cfg.Logger.Warn("portal: writing "+what+" failed; the page shows those written", "err", err)
	}
}

func cmpOr(s, alt string) string {
	if s != "" {
		return s
	}
	return alt
}

// pipelineStages are the gateway's stages in order (see package gateway),
// with their names on the page.
var pipelineStages = []struct{ stage, label string }{
	{store.StagePath, "Path and query"},
	{store.StageRoute, "Route"},
	{store.StageContent, "Content"},
	{store.StageToken, "Access token"},
	{store.StageScope, "Scope"},
	{store.StageEnvironment, "Environment"},
	{store.StageSubscription, "Subscription and plan"},
	{store.StageRate, "Rate limit"},
	{store.StageQuota, "Quota"},
	{store.StageValidation, "Validation"},
	{store.StageUpstream, "Upstream"},
}

func stageIndex(stage string) int {
	for i, s := range pipelineStages {
		if s.stage == stage {
			return i
		}
	}
	return len(pipelineStages) - 1
}

// diagnose explains one call: every stage before the deciding one
// passed (or was not required), the deciding one failed or answered, and
// the rest were not reached.
func (p *Portal) diagnose(c store.RequestLog, app, org string) diagnosis {
	dg := diagnosis{Call: c, App: app, Org: org}
	if c.ErrorKey != "" {
		if e, ok := problem.Lookup(c.ErrorKey); ok {
			dg.Entry = e
			dg.DocURL = p.cfg.Render.DocURL(e)
			if cause, ok := e.Cause(c.Cause); ok {
				dg.Cause = cause.Text
			}
		}
	}
	if c.Environment == store.EnvironmentSandbox && c.OperationID != "" && p.tryOn() {
		dg.TryURL = "/portal/apis/" + url.PathEscape(c.APIName) + "/try/" + url.PathEscape(c.OperationID)
	}
	decided := stageIndex(c.Stage)
	noToken := c.ClientID == ""
	noPlan := c.Plan == ""
	for i, s := range pipelineStages {
		row := stageRow{Label: s.label}
		switch {
		case i > decided:
			row.State, row.Detail = "not reached", ""
		case i == decided && c.ErrorKey != "":
			row.State = "failed"
			row.Detail = c.ErrorKey + "/" + c.Cause
			if dg.Cause != "" {
				row.Detail = dg.Cause
			}
			if s.stage == store.StageUpstream && c.UpstreamLatency > 0 {
				row.Detail += fmt.Sprintf(" (after %s)", roundLatency(c.UpstreamLatency))
			}
		case i == decided:
			row.State = "answered"
			row.Detail = fmt.Sprintf("The upstream answered %d in %s; the gateway's whole time was %s.",
				c.UpstreamStatus, roundLatency(c.UpstreamLatency), roundLatency(c.Latency))
			if c.Status >= 400 {
				row.Detail += " The status and body are the API's own: see its reference and, in the sandbox, its rules."
			}
		case noToken && i >= stageIndex(store.StageToken) && i <= stageIndex(store.StageQuota):
			row.State, row.Detail = "skipped", "The operation needs no access token, so no scope, subscription or plan applies."
		case noPlan && i >= stageIndex(store.StageSubscription) && i <= stageIndex(store.StageQuota):
			row.State, row.Detail = "skipped", "No subscription or plan is enforced for this client."
		default:
			row.State, row.Detail = "passed", passedDetail(s.stage, c)
		}
		dg.Stages = append(dg.Stages, row)
	}
	return dg
}

// passedDetail says what a stage the call passed decided.
func passedDetail(stage string, c store.RequestLog) string {
	switch stage {
	case store.StagePath:
		return "The path and query are well-formed."
	case store.StageRoute:
		return fmt.Sprintf("%s %s is the operation %s of %s.", c.Method, c.Template, c.OperationID, c.APIName)
	case store.StageContent:
		return "The Accept and Content-Type headers and the declared size suit the operation."
	case store.StageToken:
		return fmt.Sprintf("A valid access token of the client %s.", c.ClientID)
	case store.StageScope:
		return "The token carries a scope the operation requires."
	case store.StageEnvironment:
		if c.Environment != "" {
			return fmt.Sprintf("The client is a %s credential, which may call this API.", c.Environment)
		}
		return "The client is not tied to an environment."
	case store.StageSubscription:
		return fmt.Sprintf("The app may call the API under the plan %s.", c.Plan)
	case store.StageRate:
		return "The call was within the plan's rate."
	case store.StageQuota:
		return "The call was within the plan's quotas."
	case store.StageValidation:
		return "The parameters and body match the operation's schema."
	}
	return ""
}

// roundLatency shows a latency to a useful precision.
func roundLatency(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}
