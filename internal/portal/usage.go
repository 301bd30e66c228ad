package portal

import (
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/developers"
	"gatehouse/internal/docs"
	"gatehouse/internal/gateway"
	"gatehouse/internal/problem"
	"gatehouse/internal/store"
)

// Usage and live limits (issue 13 §2): /portal/usage shows, per app and
// API, the calls, errors by registry entry and cause, and latency
// percentiles over a range, drawn as a server-rendered chart over a table
// that is the same figures; /portal/usage.csv exports the hourly buckets;
// and every subscription's budget left now, read by the code that writes
// the gateway's RateLimit fields.

// UsageReader is the usage store as the portal reads it (store.Usage).
type UsageReader interface {
	ListUsage(ctx context.Context, f store.UsageFilter) ([]store.UsageRecord, error)
	ListUsageLatency(ctx context.Context, f store.UsageFilter) ([]store.UsageLatency, error)
}

// LiveLimitsFunc reads an app credential's budget on an API now
// (gateway.Gateway.LiveLimits).
type LiveLimitsFunc func(ctx context.Context, clientID, api string) (*gateway.LiveLimits, error)

func (p *Portal) usageOn() bool { return p.cfg.Usage != nil && p.cfg.Developers != nil }

func (p *Portal) usageRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal/usage", p.usagePage)
	mux.HandleFunc("GET /portal/usage.csv", p.usageCSV)
}

// usageRanges are the range filter's choices; "custom" takes from and to.
var usageRanges = []struct{ Value, Label string }{
	{"24h", "Last 24 hours"}, {"7d", "Last 7 days"}, {"30d", "Last 30 days"}, {"custom", "Custom dates"},
}

// maxUsageDays bounds a custom range.
const maxUsageDays = 366

// usageQuery is what the usage page and export were asked for.
type usageQuery struct {
	Range, From, To string // as given (From and To: YYYY-MM-DD, UTC)
	App, API        string
	from, to        time.Time // [from, to), whole hours
	// slot is the chart's bar: an hour for a range up to two days, a
	// day beyond.
	slot time.Duration
}

// parseUsageQuery reads the filters; a value the form cannot produce is
// the registry's invalid_parameter, naming it.
func parseUsageQuery(q url.Values, now time.Time) (usageQuery, *problem.Error) {
	u := usageQuery{Range: cmp.Or(q.Get("range"), "24h"), From: q.Get("from"), To: q.Get("to"), App: q.Get("app"), API: q.Get("api")}
	end := now.UTC().Truncate(time.Hour).Add(time.Hour) // the current hour included
	switch u.Range {
	case "24h":
		u.from, u.to = end.Add(-24*time.Hour), end
	case "7d":
		u.from, u.to = end.Add(-7*24*time.Hour), end
	case "30d":
		u.from, u.to = end.Add(-30*24*time.Hour), end
	case "custom":
		from, err1 := time.Parse(time.DateOnly, u.From)
		to, err2 := time.Parse(time.DateOnly, u.To)
		switch {
		case err1 != nil:
			return u, problem.Newf(problem.BadRequestInvalidParameter, "from=%q is not a date such as 2026-12-01; a custom range needs both dates.", u.From)
		case err2 != nil:
			return u, problem.Newf(problem.BadRequestInvalidParameter, "to=%q is not a date such as 2026-12-31; a custom range needs both dates.", u.To)
		case to.Before(from):
			return u, problem.Newf(problem.BadRequestInvalidParameter, "The range ends (%s) before it starts (%s).", u.To, u.From)
		case to.Sub(from) >= maxUsageDays*24*time.Hour:
			return u, problem.Newf(problem.BadRequestInvalidParameter, "A custom range spans at most %d days; %s to %s is longer.", maxUsageDays, u.From, u.To)
		}
		u.from, u.to = from, to.Add(24*time.Hour) // both days included
	default:
		return u, problem.Newf(problem.BadRequestInvalidParameter, "range=%q is not one of 24h, 7d, 30d or custom.", u.Range)
	}
	u.slot = time.Hour
	if u.to.Sub(u.from) > 48*time.Hour {
		u.slot = 24 * time.Hour
	}
	return u, nil
}

// values returns the query's filters for a link.
func (u usageQuery) values(org string) url.Values {
	v := url.Values{"org": {org}, "range": {u.Range}}
	for k, s := range map[string]string{"app": u.App, "api": u.API} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if u.Range == "custom" {
		v.Set("from", u.From)
		v.Set("to", u.To)
	}
	return v
}

// usageCredential is one credential of an app whose usage is shown.
type usageCredential struct {
	App         *developers.AppView
	Environment string
	ClientID    string
}

// credentials lists the credentials of apps (of the one filtered for).
func (u usageQuery) credentials(apps []*developers.AppView) []usageCredential {
	var out []usageCredential
	for _, a := range apps {
		if u.App != "" && a.ID != u.App {
			continue
		}
		for _, c := range []struct {
			env string
			v   *developers.Credential
		}{{store.EnvironmentSandbox, a.Sandbox}, {store.EnvironmentProduction, a.Production}} {
			if c.v != nil {
				out = append(out, usageCredential{App: a, Environment: c.env, ClientID: c.v.ClientID})
			}
		}
	}
	return out
}

// usageData is the usage of an organisation's apps over a range.
type usageData struct {
	records []usageRecord
	latency map[usageKey]*latencyStats
}

type usageRecord struct {
	store.UsageRecord
	cred usageCredential
}

type usageKey struct{ app, api string }

type latencyStats struct {
	hist    store.LatencyHistogram
	highest time.Duration
}

// loadUsage reads the usage of the credentials over the query's range.
func (p *Portal) loadUsage(ctx context.Context, u usageQuery, creds []usageCredential) (*usageData, error) {
	d := &usageData{latency: map[usageKey]*latencyStats{}}
	for _, c := range creds {
		f := store.UsageFilter{ClientID: c.ClientID, APIName: u.API, From: u.from, To: u.to}
		rs, err := p.cfg.Usage.ListUsage(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			d.records = append(d.records, usageRecord{r, c})
			k := usageKey{c.App.ID, r.APIName}
			if d.latency[k] == nil {
				d.latency[k] = &latencyStats{}
			}
			d.latency[k].highest = max(d.latency[k].highest, time.Duration(r.LatencyMax)*time.Microsecond)
		}
		hs, err := p.cfg.Usage.ListUsageLatency(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, h := range hs {
			if s := d.latency[usageKey{c.App.ID, h.APIName}]; s != nil {
				s.hist.Merge(&h.Latency)
			}
		}
	}
	slices.SortStableFunc(d.records, func(a, b usageRecord) int { return a.Hour.Compare(b.Hour) })
	return d, nil
}

// usageView is the usage page.
type usageView struct {
	Organization  *store.Organization
	Organizations []developers.Member
	Apps          []*developers.AppView
	APIs          []string
	Ranges        []struct{ Value, Label string }
	Query         usageQuery
	Period        string // the range in words
	CSV           string // the export's link
	Summary       []usageSummaryRow
	Total         usageSummaryRow
	Chart         *barChart
	Errors        []usageErrorRow
	Limits        []limitsRow
}

type usageSummaryRow struct {
	App, API           string
	Calls, Errors      int64
	P50, P95, P99, Max time.Duration
}

// ErrorRate is the share of calls that failed, in words.
func (r usageSummaryRow) ErrorRate() string { return percent(r.Errors, r.Calls) }

type usageErrorRow struct {
	Key, Cause string
	Status     int
	Calls      int64
	Share      string
}

func percent(n, of int64) string {
	if of == 0 {
		return "0 %"
	}
	v := 100 * float64(n) / float64(of)
	if v > 0 && v < 0.1 {
		return "< 0.1 %"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " %"
}

// usageRequest is what the usage page and the export read: the signed-in
// developer's organisation, its apps, the query and the usage it asks for.
type usageRequest struct {
	cur   developers.Member
	orgs  []developers.Member
	apps  []*developers.AppView
	now   time.Time
	query usageQuery
	creds []usageCredential
	data  *usageData
}

// readUsage reads what r asks for; when it cannot, it has answered (the
// sign-in page, or the registry's error) and returns nil.
func (p *Portal) readUsage(w http.ResponseWriter, r *http.Request) *usageRequest {
	d := p.requireDeveloper(w, r)
	if d == nil {
		return nil
	}
	ctx := r.Context()
	p.syncUsage(r)
	ur := &usageRequest{now: p.cfg.now()}
	var err error
	if ur.cur, ur.orgs, err = p.currentOrg(r, d); err != nil {
		p.fail(w, r, err)
		return nil
	}
	if ur.apps, err = p.cfg.Developers.Apps(ctx, d.ID, ur.cur.Organization.ID); err != nil {
		p.fail(w, r, err)
		return nil
	}
	var pe *problem.Error
	if ur.query, pe = parseUsageQuery(r.URL.Query(), ur.now); pe != nil {
		p.fail(w, r, pe)
		return nil
	}
	ur.creds = ur.query.credentials(ur.apps)
	if ur.data, err = p.loadUsage(ctx, ur.query, ur.creds); err != nil {
		p.fail(w, r, problem.FromStore(err, "usage", ur.cur.Organization.ID))
		return nil
	}
	return ur
}

func (p *Portal) usagePage(w http.ResponseWriter, r *http.Request) {
	ur := p.readUsage(w, r)
	if ur == nil {
		return
	}
	ctx := r.Context()
	cur, u, data := ur.cur, ur.query, ur.data
	v := usageView{Organization: cur.Organization, Organizations: ur.orgs, Apps: ur.apps, Ranges: usageRanges, Query: u,
		Period: periodWords(u), CSV: "/portal/usage.csv?" + u.values(cur.Organization.ID).Encode()}
	if apis, err := p.cfg.APIs.ListAPIs(ctx); err == nil {
		for _, a := range apis {
			v.APIs = append(v.APIs, a.Name)
		}
	}
	v.Summary, v.Total = summarize(data)
	v.Errors = errorRows(data, v.Total.Calls)
	v.Chart = callsChart(data, u)
	v.Limits = p.liveLimits(ctx, u, ur.creds)
	p.render(w, r, http.StatusOK, "usage", page{Title: "Usage", Nav: "usage", Data: v})
}

// syncUsage writes the counts pending first.
func (p *Portal) syncUsage(r *http.Request) { p.sync(r, p.cfg.SyncUsage, "the latest usage counts") }

func periodWords(u usageQuery) string {
	for _, c := range usageRanges {
		if c.Value == u.Range && c.Value != "custom" {
			return strings.ToLower(c.Label[:1]) + c.Label[1:]
		}
	}
	return u.From + " to " + u.To + " (UTC)"
}

// summarize returns a row per app and API, and the total.
func summarize(d *usageData) ([]usageSummaryRow, usageSummaryRow) {
	rows := map[usageKey]*usageSummaryRow{}
	total := usageSummaryRow{App: "All apps", API: "all APIs"}
	var all latencyStats
	for _, r := range d.records {
		k := usageKey{r.cred.App.ID, r.APIName}
		row := rows[k]
		if row == nil {
			row = &usageSummaryRow{App: r.cred.App.Name, API: r.APIName}
			rows[k] = row
		}
		row.Calls += r.Count
		total.Calls += r.Count
		if r.Status >= 400 {
			row.Errors += r.Count
			total.Errors += r.Count
		}
	}
	var out []usageSummaryRow
	for k, row := range rows {
		if s := d.latency[k]; s != nil {
			row.P50, row.P95, row.P99 = s.hist.Quantile(0.5, s.highest), s.hist.Quantile(0.95, s.highest), s.hist.Quantile(0.99, s.highest)
			row.Max = s.highest
			all.hist.Merge(&s.hist)
			all.highest = max(all.highest, s.highest)
		}
		out = append(out, *row)
	}
	slices.SortFunc(out, func(a, b usageSummaryRow) int {
		return cmp.Or(strings.Compare(a.App, b.App), strings.Compare(a.API, b.API))
	})
	total.P50, total.P95, total.P99 = all.hist.Quantile(0.5, all.highest), all.hist.Quantile(0.95, all.highest), all.hist.Quantile(0.99, all.highest)
	total.Max = all.highest
	return out, total
}

// errorRows counts the failed calls by registry entry and cause, most
// frequent first.
func errorRows(d *usageData, calls int64) []usageErrorRow {
	byErr := map[string]*usageErrorRow{}
	for _, r := range d.records {
		if r.Error == "" {
			continue
		}
		e := byErr[r.Error]
		if e == nil {
			key, cause, _ := strings.Cut(r.Error, "/")
			e = &usageErrorRow{Key: key, Cause: cause, Status: r.Status}
			byErr[r.Error] = e
		}
		e.Calls += r.Count
	}
	var out []usageErrorRow
	for _, e := range byErr {
		e.Share = percent(e.Calls, calls)
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b usageErrorRow) int {
		return cmp.Or(cmp.Compare(b.Calls, a.Calls), strings.Compare(a.Key, b.Key), strings.Compare(a.Cause, b.Cause))
	})
	return out
}

// limitsRow is one subscription's budget now.
type limitsRow struct {
	App, API, Environment string
	Limits                *gateway.LiveLimits
	// Problem says why the budget cannot be shown (not readable now).
	Problem string
	Burn    *burnDown
}

// liveLimits reads the budget of every subscription of the credentials:
// a production credential's subscriptions, and a sandbox credential's
// sandbox APIs (the sandbox plan).
func (p *Portal) liveLimits(ctx context.Context, u usageQuery, creds []usageCredential) []limitsRow {
	if p.cfg.LiveLimits == nil {
		return nil
	}
	apis, err := p.cfg.APIs.ListAPIs(ctx)
	if err != nil {
		return []limitsRow{{Problem: "The APIs cannot be read right now; reload the page shortly."}}
	}
	var out []limitsRow
	for _, c := range creds {
		var names []string
		if c.Environment == store.EnvironmentProduction {
			subs, _, err := p.cfg.Developers.Subscriptions(ctx, c.App)
			if err != nil {
				out = append(out, limitsRow{App: c.App.Name, Environment: c.Environment, Problem: "The subscriptions cannot be read right now."})
				continue
			}
			for _, s := range subs {
				names = append(names, s.API)
			}
		} else {
			for _, a := range apis {
				if a.Status == store.APISandbox {
					names = append(names, a.Name)
				}
			}
		}
		for _, api := range names {
			if u.API != "" && api != u.API {
				continue
			}
			row := limitsRow{App: c.App.Name, API: api, Environment: c.Environment}
			l, err := p.cfg.LiveLimits(ctx, c.ClientID, api)
			var pe *problem.Error
			switch {
			case errors.As(err, &pe):
				row.Problem = pe.Detail
			case errors.Is(err, gateway.ErrLiveLimitsUnavailable):
				row.Problem = "The budget cannot be read right now: the shared limiter is not answering. Calls are still limited; reload shortly."
			case err != nil:
				row.Problem = "The budget cannot be read right now; reload shortly."
			default:
				row.Limits = l
				row.Burn = newBurnDown(l)
			}
			out = append(out, row)
		}
	}
	return out
}

// usageCSV exports the hourly buckets of the range: one row per app
// credential, API, hour, status and error.
func (p *Portal) usageCSV(w http.ResponseWriter, r *http.Request) {
	ur := p.readUsage(w, r)
	if ur == nil {
		return
	}
	cur, u, data := ur.cur, ur.query, ur.data
	name := fmt.Sprintf("usage-%s-%s-%s.csv", cur.Organization.ID, u.from.Format("20060102T15"), u.to.Format("20060102T15"))
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"hour_utc", "app_id", "app", "environment", "client_id", "api", "status", "error", "cause", "calls", "latency_mean_ms", "latency_max_ms"})
	for _, rec := range data.records {
		key, cause, _ := strings.Cut(rec.Error, "/")
		mean := 0.0
		if rec.Count > 0 {
			mean = float64(rec.LatencySum) / float64(rec.Count) / 1000
		}
		_ = cw.Write([]string{
			rec.Hour.UTC().Format(time.RFC3339), rec.cred.App.ID, csvText(rec.cred.App.Name), rec.cred.Environment,
			rec.ClientID, rec.APIName, strconv.Itoa(rec.Status), key, cause, strconv.FormatInt(rec.Count, 10),
			strconv.FormatFloat(mean, 'f', 3, 64), strconv.FormatFloat(float64(rec.LatencyMax)/1000, 'f', 3, 64),
		})
	}
	cw.Flush()
}

// csvText keeps a name a spreadsheet would run as a formula (=, +, -, @,
// tab, carriage return first: OWASP's CSV injection) a text, with a
// leading apostrophe.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// yoursPeriod is how far back the troubleshooting page looks for the
// signed-in developer's own errors.
const yoursPeriod = 7 * 24 * time.Hour

// Yours tells the troubleshooting page (docs.Handler.Yours) which
// registry entries the calls of the signed-in developer's organisation
// ended in over the last 7 days, from the usage counts, with the latest
// such call's diagnosis when the request log keeps it. It returns nil for
// a visitor, and when the counts cannot be read (the page then shows the
// registry alone; the failure is logged).
func (p *Portal) Yours(r *http.Request) *docs.Yours {
	if !p.usageOn() {
		return nil
	}
	r = p.identify(r)
	v := viewerOf(r.Context())
	if v == nil || v.Developer == nil {
		return nil
	}
	ctx := r.Context()
	p.syncUsage(r)
	cur, _, err := p.currentOrg(r, v.Developer)
	if err != nil {
		return nil
	}
	apps, err := p.cfg.Developers.Apps(ctx, v.Developer.ID, cur.Organization.ID)
	if err != nil {
		p.cfg.Logger.Warn("troubleshooting page: reading the developer's apps failed", "err", err)
		return nil
	}
	now := p.cfg.now()
	u := usageQuery{from: now.Add(-yoursPeriod).Truncate(time.Hour), to: now.Truncate(time.Hour).Add(time.Hour)}
	data, err := p.loadUsage(ctx, u, u.credentials(apps))
	if err != nil {
		p.cfg.Logger.Warn("troubleshooting page: reading the usage counts failed", "err", err)
		return nil
	}
	y := &docs.Yours{Organization: cur.Organization.Name, Period: "in the last 7 days", Entries: map[string]*docs.Occurrences{}}
	causes := map[string]map[string]int64{}
	for _, rec := range data.records {
		key, cause, _ := strings.Cut(rec.Error, "/")
		if key == "" {
			continue
		}
		o := y.Entries[key]
		if o == nil {
			o = &docs.Occurrences{LogURL: "/portal/logs?" + url.Values{"org": {cur.Organization.ID}, "error": {key}}.Encode()}
			y.Entries[key] = o
			causes[key] = map[string]int64{}
		}
		o.Calls += rec.Count
		causes[key][cause] += rec.Count
	}
	if len(y.Entries) > 0 {
		p.syncLogs(r)
	}
	for key, o := range y.Entries {
		for id, n := range causes[key] {
			o.Causes = append(o.Causes, docs.CauseCount{ID: id, Calls: n})
		}
		slices.SortFunc(o.Causes, func(a, b docs.CauseCount) int {
			return cmp.Or(cmp.Compare(b.Calls, a.Calls), strings.Compare(a.ID, b.ID))
		})
		if p.logsOn() {
			latest, err := p.cfg.Logs.ListRequestLogs(ctx, store.RequestLogFilter{OrganizationID: cur.Organization.ID, ErrorKey: key, From: u.from, Limit: 1})
			if err == nil && len(latest) == 1 {
				o.Diagnosis, o.Latest = DiagnosisPath(latest[0].Correlator), latest[0].Time
			}
		}
	}
	return y
}
