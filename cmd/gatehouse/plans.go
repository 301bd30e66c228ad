package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gatehouse/internal/plans"
	"gatehouse/internal/store"
)

// float64Flag is a float flag that remembers whether it was given.
type float64Flag struct {
	set   bool
	value float64
}

func (f *float64Flag) String() string { return strconv.FormatFloat(f.value, 'g', -1, 64) }
func (f *float64Flag) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	f.set, f.value = err == nil, v
	return err
}

// boolFlag is a bool flag that remembers whether it was given.
type boolFlag struct {
	set   bool
	value bool
}

func (f *boolFlag) String() string   { return strconv.FormatBool(f.value) }
func (f *boolFlag) IsBoolFlag() bool { return true }
func (f *boolFlag) Set(s string) error {
	v, err := strconv.ParseBool(s)
	f.set, f.value = err == nil, v
	return err
}

type planFlags struct {
	name, price, description stringFlag
	rate                     float64Flag
	burst, quotaDay, quotaMo int64Flag
	approval                 boolFlag
}

func (pf *planFlags) register(fs *flag.FlagSet, withName bool) {
	if withName {
		fs.Var(&pf.name, "name", "plan name")
	}
	fs.Var(&pf.rate, "rate", "requests per second (0: unlimited)")
	fs.Var(&pf.burst, "burst", "requests that may arrive at once")
	fs.Var(&pf.quotaDay, "quota-day", "requests per UTC day (0: none)")
	fs.Var(&pf.quotaMo, "quota-month", "requests per UTC month (0: none)")
	fs.Var(&pf.price, "price", "price label shown to developers, e.g. \"€49 / month\"")
	fs.Var(&pf.description, "description", "what the plan is for")
	fs.Var(&pf.approval, "requires-approval", "new subscriptions wait for an operator's approval")
}

func (pf *planFlags) spec() plans.PlanSpec {
	var s plans.PlanSpec
	if pf.rate.set {
		s.RatePerSecond = &pf.rate.value
	}
	if pf.burst.set {
		s.Burst = &pf.burst.value
	}
	if pf.quotaDay.set {
		s.QuotaDay = &pf.quotaDay.value
	}
	if pf.quotaMo.set {
		s.QuotaMonth = &pf.quotaMo.value
	}
	if pf.price.set {
		s.PriceLabel = &pf.price.value
	}
	if pf.description.set {
		s.Description = &pf.description.value
	}
	if pf.approval.set {
		s.RequiresApproval = &pf.approval.value
	}
	return s
}

func plansCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{"plans: want create, list, show, update or delete"}
	}
	sub := args[0]
	cmd := newCommand("plans " + sub)
	var pf planFlags
	want := 1
	switch sub {
	case "create":
		pf.register(cmd.fs, true)
		want = 0
	case "update":
		pf.register(cmd.fs, false)
	case "list":
		want = 0
	case "show", "delete":
	default:
		return usageError{fmt.Sprintf("plans: unknown subcommand %q", sub)}
	}
	pos, err := parseFlags(cmd.fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != want {
		if want == 0 {
			return usageError{fmt.Sprintf("plans %s: unexpected arguments %q", sub, pos)}
		}
		return usageError{fmt.Sprintf("plans %s: give exactly one plan name", sub)}
	}
	if sub == "create" && !pf.name.set {
		return usageError{"plans create: --name is required"}
	}
	p, err := open(ctx, *cmd.configPath, getenv)
	if err != nil {
		return err
	}
	defer p.store.Close()

	var out any
	switch sub {
	case "create":
		out, err = p.plans.CreatePlan(ctx, pf.name.value, pf.spec())
	case "update":
		out, err = p.plans.UpdatePlan(ctx, pos[0], pf.spec())
	case "show":
		out, err = p.plans.GetPlan(ctx, pos[0])
	case "delete":
		if err = p.plans.DeletePlan(ctx, pos[0]); err == nil {
			out = map[string]string{"deleted": pos[0]}
			if !*cmd.asJSON {
				fmt.Fprintf(stdout, "deleted plan %s\n", pos[0])
				return nil
			}
		}
	case "list":
		var list []*plans.PlanView
		if list, err = p.plans.ListPlans(ctx); err == nil {
			out = map[string]any{"plans": list}
			if !*cmd.asJSON {
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tPRICE\tRATE/S\tBURST\tQUOTA/DAY\tQUOTA/MONTH\tAPPROVAL")
				for _, pl := range list {
					fmt.Fprintf(tw, "%s\t%s\t%g\t%d\t%s\t%s\t%v\n", pl.Name, pl.PriceLabel, pl.RatePerSecond, pl.Burst,
						quotaText(pl.QuotaDay), quotaText(pl.QuotaMonth), pl.RequiresApproval)
				}
				return tw.Flush()
			}
		}
	}
	if err != nil {
		return operatorError(err)
	}
	if *cmd.asJSON {
		return printJSON(stdout, out)
	}
	pl := out.(*plans.PlanView)
	fmt.Fprintf(stdout, "plan %s (%s): %g req/s, burst %d, %s per day, %s per month, approval required: %v\n",
		pl.Name, pl.PriceLabel, pl.RatePerSecond, pl.Burst, quotaText(pl.QuotaDay), quotaText(pl.QuotaMonth), pl.RequiresApproval)
	return nil
}

func quotaText(n int64) string {
	if n == 0 {
		return "unlimited"
	}
	return strconv.FormatInt(n, 10)
}

func subscriptionsCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{"subscriptions: want create, list, show, update, approve or delete"}
	}
	sub := args[0]
	cmd := newCommand("subscriptions " + sub)
	var client, api, plan stringFlag
	want := 1
	switch sub {
	case "create":
		cmd.fs.Var(&client, "client", "client (app) id")
		cmd.fs.Var(&api, "api", "API name")
		cmd.fs.Var(&plan, "plan", "plan name")
		want = 0
	case "list":
		cmd.fs.Var(&client, "client", "only this client's subscriptions")
		cmd.fs.Var(&api, "api", "only subscriptions to this API")
		want = 0
	case "update":
		cmd.fs.Var(&plan, "plan", "the new plan")
	case "show", "approve", "delete":
	default:
		return usageError{fmt.Sprintf("subscriptions: unknown subcommand %q", sub)}
	}
	pos, err := parseFlags(cmd.fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != want {
		if want == 0 {
			return usageError{fmt.Sprintf("subscriptions %s: unexpected arguments %q", sub, pos)}
		}
		return usageError{fmt.Sprintf("subscriptions %s: give exactly one subscription id", sub)}
	}
	switch {
	case sub == "create" && (!client.set || !api.set || !plan.set):
		return usageError{"subscriptions create: --client, --api and --plan are required"}
	case sub == "update" && !plan.set:
		return usageError{"subscriptions update: --plan is required"}
	}
	p, err := open(ctx, *cmd.configPath, getenv)
	if err != nil {
		return err
	}
	defer p.store.Close()

	var out any
	switch sub {
	case "create":
		out, err = p.plans.Subscribe(ctx, client.value, api.value, plan.value)
	case "update":
		out, err = p.plans.ChangePlan(ctx, pos[0], plan.value)
	case "approve":
		out, err = p.plans.Approve(ctx, pos[0])
	case "show":
		out, err = p.plans.GetSubscription(ctx, pos[0])
	case "delete":
		if err = p.plans.Unsubscribe(ctx, pos[0]); err == nil {
			out = map[string]string{"deleted": pos[0]}
			if !*cmd.asJSON {
				fmt.Fprintf(stdout, "deleted subscription %s\n", pos[0])
				return nil
			}
		}
	case "list":
		var list []*plans.SubscriptionView
		if list, err = p.plans.ListSubscriptions(ctx, store.SubscriptionFilter{ClientID: client.value, APIName: api.value}); err == nil {
			out = map[string]any{"subscriptions": list}
			if !*cmd.asJSON {
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tCLIENT\tAPI\tPLAN\tSTATUS")
				for _, s := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, s.ClientID, s.API, s.Plan, s.Status)
				}
				return tw.Flush()
			}
		}
	}
	if err != nil {
		return operatorError(err)
	}
	if *cmd.asJSON {
		return printJSON(stdout, out)
	}
	s := out.(*plans.SubscriptionView)
	fmt.Fprintf(stdout, "subscription %s: client %s on %s, plan %s, %s\n", s.ID, s.ClientID, s.API, s.Plan, s.Status)
	return nil
}

// usageRow is one app's usage of one API over the period.
type usageRow struct {
	ClientID     string           `json:"client_id"`
	API          string           `json:"api"`
	Calls        int64            `json:"calls"`
	Errors       int64            `json:"errors"`
	ByStatus     map[string]int64 `json:"by_status"`
	ByError      map[string]int64 `json:"by_error"`
	AvgLatencyMs float64          `json:"avg_latency_ms"`
	MaxLatencyMs float64          `json:"max_latency_ms"`
	latencySum   int64
}

// parseSince accepts a date (2026-11-01), an RFC 3339 time, or a duration
// back from now (24h).
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}

func usageCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd := newCommand("usage")
	var client, api, since, until stringFlag
	cmd.fs.Var(&client, "client", "only this client (app)")
	cmd.fs.Var(&api, "api", "only this API")
	cmd.fs.Var(&since, "since", "start: a date (2026-11-01), an RFC 3339 time, or a duration back from now (default 24h)")
	cmd.fs.Var(&until, "until", "end (exclusive), same forms; default now")
	pos, err := parseFlags(cmd.fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("usage: unexpected arguments %q", pos)}
	}
	now := time.Now().UTC()
	from, to := now.Add(-24*time.Hour), now.Add(time.Hour)
	if since.set {
		if from, err = parseSince(since.value, now); err != nil {
			return usageError{fmt.Sprintf("usage: --since %q: want 2026-11-01, an RFC 3339 time or a duration like 24h", since.value)}
		}
	}
	if until.set {
		if to, err = parseSince(until.value, now); err != nil {
			return usageError{fmt.Sprintf("usage: --until %q: want 2026-11-01, an RFC 3339 time or a duration like 1h", until.value)}
		}
	}
	p, err := open(ctx, *cmd.configPath, getenv)
	if err != nil {
		return err
	}
	defer p.store.Close()
	// Buckets are hours: widen the window to whole hours.
	recs, err := p.store.ListUsage(ctx, store.UsageFilter{ClientID: client.value, APIName: api.value,
		From: from.Truncate(time.Hour), To: to})
	if err != nil {
		return err
	}
	rows := map[[2]string]*usageRow{}
	for _, r := range recs {
		k := [2]string{r.ClientID, r.APIName}
		row, ok := rows[k]
		if !ok {
			row = &usageRow{ClientID: r.ClientID, API: r.APIName, ByStatus: map[string]int64{}, ByError: map[string]int64{}}
			rows[k] = row
		}
		row.Calls += r.Count
		row.ByStatus[strconv.Itoa(r.Status)] += r.Count
		if r.Error != "" {
			row.Errors += r.Count
			row.ByError[r.Error] += r.Count
		}
		row.latencySum += r.LatencySum
		row.MaxLatencyMs = max(row.MaxLatencyMs, float64(r.LatencyMax)/1000)
	}
	list := make([]*usageRow, 0, len(rows))
	for _, row := range rows {
		if row.Calls > 0 {
			row.AvgLatencyMs = float64(row.latencySum) / float64(row.Calls) / 1000
		}
		list = append(list, row)
	}
	sort.Slice(list, func(i, j int) bool {
		return list[i].ClientID+"|"+list[i].API < list[j].ClientID+"|"+list[j].API
	})
	if *cmd.asJSON {
		return printJSON(stdout, map[string]any{"from": from.Truncate(time.Hour), "to": to, "usage": list})
	}
	fmt.Fprintf(stdout, "usage from %s to %s (UTC hours)\n", from.Truncate(time.Hour).Format(time.RFC3339), to.Format(time.RFC3339))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT\tAPI\tCALLS\tERRORS\tAVG MS\tMAX MS\tTOP ERRORS")
	for _, row := range list {
		clientName := row.ClientID
		if clientName == "" {
			clientName = "(unauthenticated)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.2f\t%.2f\t%s\n", clientName, row.API, row.Calls, row.Errors,
			row.AvgLatencyMs, row.MaxLatencyMs, topErrors(row.ByError, 3))
	}
	return tw.Flush()
}

func topErrors(m map[string]int64, n int) string {
	type kv struct {
		k string
		v int64
	}
	var list []kv
	for k, v := range m {
		list = append(list, kv{k, v})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].v > list[j].v || (list[i].v == list[j].v && list[i].k < list[j].k) })
	var out []string
	for i, e := range list {
		if i == n {
			break
		}
		out = append(out, fmt.Sprintf("%s×%d", e.k, e.v))
	}
	return strings.Join(out, " ")
}
