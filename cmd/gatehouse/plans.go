package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"gatehouse/internal/plans"
	"gatehouse/internal/store"
)

// float64Flag is a float flag that remembers whether it was given.
type float64Flag struct {
	set   bool
	value float64
}

func (f *float64Flag) String() string { return strconv.FormatFloat(f.value, 'g', -1, 64) }
func (f *float64Flag) Type() string   { return "number" }
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

func (f *boolFlag) String() string { return strconv.FormatBool(f.value) }
func (f *boolFlag) Type() string   { return "bool" }
func (f *boolFlag) Set(s string) error {
	v, err := strconv.ParseBool(s)
	f.set, f.value = err == nil, v
	return err
}

// boolVar registers a boolFlag, given alone (--flag) or with a value
// (--flag=false).
func boolVar(fs *pflag.FlagSet, f *boolFlag, name, usage string) {
	fs.Var(f, name, usage)
	fs.Lookup(name).NoOptDefVal = "true"
}

type planFlags struct {
	name, price, description stringFlag
	rate                     float64Flag
	burst, quotaDay, quotaMo int64Flag
	approval                 boolFlag
}

func (pf *planFlags) register(fs *pflag.FlagSet, withName bool) {
	if withName {
		fs.Var(&pf.name, "name", "plan name (required)")
	}
	fs.Var(&pf.rate, "rate", "requests per second (0: unlimited)")
	fs.Var(&pf.burst, "burst", "requests that may arrive at once")
	fs.Var(&pf.quotaDay, "quota-day", "requests per UTC day (0: none)")
	fs.Var(&pf.quotaMo, "quota-month", "requests per UTC month (0: none)")
	fs.Var(&pf.price, "price", "price label shown to developers, e.g. \"€49 / month\"")
	fs.Var(&pf.description, "description", "what the plan is for")
	boolVar(fs, &pf.approval, "requires-approval", "new subscriptions wait for an operator's approval (--requires-approval=false: no longer)")
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

func (c *cli) plansCommand() *cobra.Command {
	return group("plans", "Define the plans apps subscribe to: rate, burst, quotas, price",
		`A plan is a rate with a burst and request quotas per UTC day and/or month. Every app may
call every sandbox API on the free sandbox plan; live APIs need a subscription.`,
		c.planCommand("create", "create", "Define a plan",
			`  gatehouse plans create --name gold --rate 100 --burst 200 --quota-month 1000000 --price "€99 / month"
  gatehouse plans create --name partner --rate 500 --burst 1000 --requires-approval`,
			func(fs *pflag.FlagSet, pf *planFlags) { pf.register(fs, true) }),
		c.planCommand("list", "list", "List the plans", "  gatehouse plans list", nil),
		c.planCommand("show", "show NAME", "Show a plan", "  gatehouse plans show gold", nil),
		c.planCommand("update", "update NAME", "Change a plan; subscriptions on it follow on their next request",
			"  gatehouse plans update gold --rate 200 --burst 400", func(fs *pflag.FlagSet, pf *planFlags) { pf.register(fs, false) }),
		c.planCommand("delete", "delete NAME", "Delete a plan no subscription uses", "  gatehouse plans delete gold", nil),
	)
}

// planCommand is one plans subcommand.
func (c *cli) planCommand(sub, use, short, example string, flags func(*pflag.FlagSet, *planFlags)) *cobra.Command {
	var pf planFlags
	nargs := 1
	if sub == "create" || sub == "list" {
		nargs = 0
	}
	cmd := &cobra.Command{Use: use, Short: short, Example: example, Args: exactArgs(nargs, "plan name")}
	if flags != nil {
		flags(cmd.Flags(), &pf)
	}
	out := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		if sub == "create" && !pf.name.set {
			return usageError{msg: "plans create: --name is required"}
		}
		return c.plans(cmd.Context(), sub, pos, &pf, out)
	}
	return cmd
}

func (c *cli) plans(ctx context.Context, sub string, pos []string, pf *planFlags, o *output) error {
	stdout := c.stdout
	p, err := open(ctx, c.configPath, c.getenv)
	if err != nil {
		return err
	}
	defer p.store.Close()

	var out any
	switch sub {
	case "create":
		out, err = p.Plans.CreatePlan(ctx, pf.name.value, pf.spec())
	case "update":
		out, err = p.Plans.UpdatePlan(ctx, pos[0], pf.spec())
	case "show":
		out, err = p.Plans.GetPlan(ctx, pos[0])
	case "delete":
		if err = p.Plans.DeletePlan(ctx, pos[0]); err == nil {
			out = map[string]string{"deleted": pos[0]}
			if !o.is("json") {
				fmt.Fprintf(stdout, "deleted plan %s\n", pos[0])
				return nil
			}
		}
	case "list":
		var list []*plans.PlanView
		if list, err = p.Plans.ListPlans(ctx); err == nil {
			out = map[string]any{"plans": list}
			if !o.is("json") {
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
	if o.is("json") {
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

func (c *cli) subscriptionsCommand() *cobra.Command {
	return group("subscriptions", "Subscribe apps to live APIs on a plan; approve, change and end subscriptions",
		`A subscription lets one client call one live API on one plan. On a plan that requires
approval it waits (pending) until an operator approves or refuses it. A change to such a
plan waits the same way (its pending plan) while the plan in force stays. Every change is
recorded as an order (gatehouse orders list).`,
		c.subscriptionCommand("create", "create", "Subscribe a client to an API on a plan",
			"  gatehouse subscriptions create --client CLIENT_ID --api sim-swap --plan gold",
			func(fs *pflag.FlagSet, sf *subscriptionFlags) {
				fs.Var(&sf.client, "client", "client (app) id (required)")
				fs.Var(&sf.api, "api", "API name (required)")
				fs.Var(&sf.plan, "plan", "plan name (required)")
			}),
		c.subscriptionCommand("list", "list", "List subscriptions",
			"  gatehouse subscriptions list\n  gatehouse subscriptions list --client CLIENT_ID -o json",
			func(fs *pflag.FlagSet, sf *subscriptionFlags) {
				fs.Var(&sf.client, "client", "only this client's subscriptions")
				fs.Var(&sf.api, "api", "only subscriptions to this API")
			}),
		c.subscriptionCommand("show", "show ID", "Show a subscription", "  gatehouse subscriptions show SUBSCRIPTION_ID", nil),
		c.subscriptionCommand("update", "update ID", "Move a subscription to another plan; takes effect on the next request",
			"  gatehouse subscriptions update SUBSCRIPTION_ID --plan business",
			func(fs *pflag.FlagSet, sf *subscriptionFlags) { fs.Var(&sf.plan, "plan", "the new plan (required)") }),
		c.subscriptionCommand("approve", "approve ID", "Approve what waits: a pending subscription, or a pending change of plan",
			"  gatehouse subscriptions approve SUBSCRIPTION_ID", nil),
		c.subscriptionCommand("refuse", "refuse ID", "Refuse what waits: a pending subscription is deleted, a pending change dropped",
			"  gatehouse subscriptions refuse SUBSCRIPTION_ID", nil),
		c.subscriptionCommand("delete", "delete ID", "End a subscription", "  gatehouse subscriptions delete SUBSCRIPTION_ID", nil),
	)
}

type subscriptionFlags struct{ client, api, plan stringFlag }

// subscriptionCommand is one subscriptions subcommand.
func (c *cli) subscriptionCommand(sub, use, short, example string, flags func(*pflag.FlagSet, *subscriptionFlags)) *cobra.Command {
	var sf subscriptionFlags
	nargs := 1
	if sub == "create" || sub == "list" {
		nargs = 0
	}
	cmd := &cobra.Command{Use: use, Short: short, Example: example, Args: exactArgs(nargs, "subscription id")}
	if flags != nil {
		flags(cmd.Flags(), &sf)
	}
	out := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		switch {
		case sub == "create" && (!sf.client.set || !sf.api.set || !sf.plan.set):
			return usageError{msg: "subscriptions create: --client, --api and --plan are required"}
		case sub == "update" && !sf.plan.set:
			return usageError{msg: "subscriptions update: --plan is required"}
		}
		return c.subscriptions(cmd.Context(), sub, pos, &sf, out)
	}
	return cmd
}

func (c *cli) subscriptions(ctx context.Context, sub string, pos []string, sf *subscriptionFlags, o *output) error {
	stdout := c.stdout
	client, api, plan := sf.client, sf.api, sf.plan
	p, err := open(ctx, c.configPath, c.getenv)
	if err != nil {
		return err
	}
	defer p.store.Close()

	var out any
	switch sub {
	case "create":
		out, err = p.Plans.Subscribe(ctx, plans.Operator, client.value, api.value, plan.value)
	case "update":
		out, err = p.Plans.ChangePlan(ctx, plans.Operator, pos[0], plan.value)
	case "approve":
		out, err = p.Plans.Approve(ctx, pos[0])
	case "refuse":
		var v *plans.SubscriptionView
		if v, err = p.Plans.Refuse(ctx, pos[0]); err == nil {
			out = v
			if v == nil {
				out = map[string]string{"deleted": pos[0]}
				if !o.is("json") {
					fmt.Fprintf(stdout, "refused subscription %s; it waited for approval, so it is deleted\n", pos[0])
					return nil
				}
			}
		}
	case "show":
		out, err = p.Plans.GetSubscription(ctx, pos[0])
	case "delete":
		if err = p.Plans.Unsubscribe(ctx, plans.Operator, pos[0]); err == nil {
			out = map[string]string{"deleted": pos[0]}
			if !o.is("json") {
				fmt.Fprintf(stdout, "deleted subscription %s\n", pos[0])
				return nil
			}
		}
	case "list":
		var list []*plans.SubscriptionView
		if list, err = p.Plans.ListSubscriptions(ctx, store.SubscriptionFilter{ClientID: client.value, APIName: api.value}); err == nil {
			out = map[string]any{"subscriptions": list}
			if !o.is("json") {
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tCLIENT\tAPI\tPLAN\tSTATUS\tPENDING PLAN")
				for _, s := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.ClientID, s.API, s.Plan, s.Status, orDash(s.PendingPlan))
				}
				return tw.Flush()
			}
		}
	}
	if err != nil {
		return operatorError(err)
	}
	if o.is("json") {
		return printJSON(stdout, out)
	}
	s := out.(*plans.SubscriptionView)
	fmt.Fprintf(stdout, "subscription %s: client %s on %s, plan %s, %s", s.ID, s.ClientID, s.API, s.Plan, s.Status)
	if s.PendingPlan != "" {
		fmt.Fprintf(stdout, "; plan %s waits for approval", s.PendingPlan)
	}
	fmt.Fprintln(stdout)
	return nil
}

// orDash is s, or "-" when empty, for a table cell.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (c *cli) ordersCommand() *cobra.Command {
	var f struct{ org, app, client, subscription, status stringFlag }
	list := &cobra.Command{Use: "list", Short: "List orders, newest first",
		Example: "  gatehouse orders list\n  gatehouse orders list --status pending\n  gatehouse orders list --subscription SUBSCRIPTION_ID -o json",
		Args:    exactArgs(0, "")}
	fs := list.Flags()
	fs.Var(&f.org, "organization", "only this organisation's orders")
	fs.Var(&f.app, "app", "only this app's orders")
	fs.Var(&f.client, "client", "only this client's orders")
	fs.Var(&f.subscription, "subscription", "only this subscription's orders")
	fs.Var(&f.status, "status", "only orders with this `status`: "+strings.Join(plans.OrderStatuses, ", "))
	_ = list.RegisterFlagCompletionFunc("status", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return plans.OrderStatuses, cobra.ShellCompDirectiveNoFileComp
	})
	o := addOutput(list)
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		return c.orders(cmd.Context(), store.OrderFilter{OrganizationID: f.org.value, AppID: f.app.value,
			ClientID: f.client.value, SubscriptionID: f.subscription.value, Status: f.status.value}, o)
	}
	return group("orders", "List orders: the purchase history of subscriptions",
		`Every subscription change is an order: subscribe, change (of plan), cancel, and the operator's
approve or refuse. An order waiting for approval is pending; it becomes completed, refused, or
superseded when a later order of its subscription replaces it.`, list)
}

func (c *cli) orders(ctx context.Context, f store.OrderFilter, o *output) error {
	stdout := c.stdout
	p, err := open(ctx, c.configPath, c.getenv)
	if err != nil {
		return err
	}
	defer p.store.Close()
	list, err := p.Plans.ListOrders(ctx, f)
	if err != nil {
		return operatorError(err)
	}
	if o.is("json") {
		return printJSON(stdout, map[string]any{"orders": list})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tSUBSCRIPTION\tCLIENT\tAPI\tKIND\tFROM\tTO\tPRICE\tSTATUS\tBY")
	for _, v := range list {
		by := "operator"
		if v.DeveloperID != "" {
			by = v.DeveloperID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.CreatedAt.Format(time.RFC3339),
			v.SubscriptionID, v.ClientID, v.API, v.Kind, orDash(v.FromPlan), orDash(v.ToPlan), orDash(v.PriceLabel), v.Status, by)
	}
	return tw.Flush()
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

func (c *cli) usageCommand() *cobra.Command {
	var client, api, since, until stringFlag
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Show the calls each app made to each API: counts, errors by cause, latency",
		Long: `Usage is counted per app, API and UTC hour, so the period is widened to whole hours.
--since and --until take a date (2026-11-01), an RFC 3339 time, or a duration back from now (24h).`,
		Example: `  gatehouse usage --client CLIENT_ID --since 24h
  gatehouse usage --api sim-swap --since 2026-11-01 --until 2026-12-01 -o json`,
		Args: exactArgs(0, ""),
	}
	cmd.Flags().Var(&client, "client", "only this client (app)")
	cmd.Flags().Var(&api, "api", "only this API")
	cmd.Flags().Var(&since, "since", "start: a date (2026-11-01), an RFC 3339 time, or a duration back from now (default 24h)")
	cmd.Flags().Var(&until, "until", "end (exclusive), same forms; default now")
	out := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return c.usage(cmd.Context(), client, api, since, until, out)
	}
	return cmd
}

func (c *cli) usage(ctx context.Context, client, api, since, until stringFlag, o *output) error {
	stdout := c.stdout
	var err error
	now := time.Now().UTC()
	from, to := now.Add(-24*time.Hour), now.Add(time.Hour)
	if since.set {
		if from, err = parseSince(since.value, now); err != nil {
			return usageError{msg: fmt.Sprintf("usage: --since %q: want 2026-11-01, an RFC 3339 time or a duration like 24h", since.value)}
		}
	}
	if until.set {
		if to, err = parseSince(until.value, now); err != nil {
			return usageError{msg: fmt.Sprintf("usage: --until %q: want 2026-11-01, an RFC 3339 time or a duration like 1h", until.value)}
		}
	}
	p, err := open(ctx, c.configPath, c.getenv)
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
	if o.is("json") {
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
