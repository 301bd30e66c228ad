package portal

import (
	"strconv"
	"time"

	"gatehouse/internal/gateway"
	"gatehouse/internal/ratelimit"
)

// The usage page's charts are SVG drawn here, on the server: no script,
// nothing to download, and each is only a picture of the table printed
// with it (the table is what screen readers and copy-paste get).

// Chart geometry, in the SVG's user units (it scales to its box).
const (
	chartW, chartH             = 720, 220
	chartLeft, chartRight      = 56, 8
	chartTop, chartBottom      = 10, 28
	chartPlotW, chartPlotH     = chartW - chartLeft - chartRight, chartH - chartTop - chartBottom
	chartXLabels, chartYLabels = 6, 4
)

// barChart is calls per slot, errors stacked on the successes.
type barChart struct {
	W, H, Left, Top, PlotW, PlotH, Bottom int
	Bars                                  []chartBar
	YTicks                                []chartTick
	XTicks                                []chartTick
	Slot                                  string // "hour" or "day"
	Empty                                 bool
}

type chartBar struct {
	Label                      string // the slot, for the table and the tooltip
	Calls, Errors              int64
	X, W, OKY, OKH, ErrY, ErrH float64
}

type chartTick struct {
	Pos   float64
	Label string
}

// callsChart draws the calls of d per slot of the query's range.
func callsChart(d *usageData, u usageQuery) *barChart {
	n := int(u.to.Sub(u.from) / u.slot)
	calls, errs := make([]int64, n), make([]int64, n)
	for _, r := range d.records {
		i := int(r.Hour.Sub(u.from) / u.slot)
		if i < 0 || i >= n {
			continue
		}
		calls[i] += r.Count
		if r.Status >= 400 {
			errs[i] += r.Count
		}
	}
	c := &barChart{W: chartW, H: chartH, Left: chartLeft, Top: chartTop, PlotW: chartPlotW, PlotH: chartPlotH,
		Bottom: chartTop + chartPlotH, Slot: "hour"}
	layout := "2 Jan 15:00"
	if u.slot >= 24*time.Hour {
		c.Slot, layout = "day", "Mon 2 Jan"
	}
	top := niceCeil(slicesMax(calls))
	c.Empty = top == 0
	if top == 0 {
		top = 1
	}
	slotW := float64(chartPlotW) / float64(n)
	for i := range n {
		at := u.from.Add(time.Duration(i) * u.slot)
		okH := float64(calls[i]-errs[i]) / float64(top) * chartPlotH
		errH := float64(errs[i]) / float64(top) * chartPlotH
		b := chartBar{Label: at.Format(layout), Calls: calls[i], Errors: errs[i],
			X: chartLeft + float64(i)*slotW + slotW*0.1, W: slotW * 0.8}
		b.OKY, b.OKH = float64(chartTop+chartPlotH)-okH, okH
		b.ErrY, b.ErrH = b.OKY-errH, errH
		c.Bars = append(c.Bars, b)
	}
	for i := 0; i <= chartYLabels; i++ {
		v := top * int64(i) / chartYLabels
		c.YTicks = append(c.YTicks, chartTick{Pos: float64(chartTop+chartPlotH) - float64(v)/float64(top)*chartPlotH, Label: shortCount(v)})
	}
	step := max(1, n/chartXLabels)
	for i := 0; i < n; i += step {
		lab := u.from.Add(time.Duration(i) * u.slot).Format(map[bool]string{true: "15:00", false: "2 Jan"}[u.slot < 24*time.Hour])
		c.XTicks = append(c.XTicks, chartTick{Pos: chartLeft + (float64(i)+0.5)*slotW, Label: lab})
	}
	return c
}

func slicesMax(s []int64) int64 {
	var m int64
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

// niceCeil returns the top of an axis for values up to v: chartYLabels
// times a round step (1, 2 or 5 times a power of ten), so that every
// tick is a round number.
func niceCeil(v int64) int64 {
	if v <= 0 {
		return 0
	}
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if step := m * p; step*chartYLabels >= v {
				return step * chartYLabels
			}
		}
	}
}

// shortCount writes a count briefly: 950, 12k, 3.4M.
func shortCount(v int64) string {
	switch {
	case v >= 1_000_000:
		return strconv.FormatFloat(float64(v)/1e6, 'f', -1, 64) + "M"
	case v >= 10_000:
		return strconv.FormatInt(v/1000, 10) + "k"
	}
	return strconv.FormatInt(v, 10)
}

// burnDown is a quota's remaining budget over its period: exact at the
// period's start (all of it) and now (from the limiter), projected to the
// period's end at the average pace so far.
type burnDown struct {
	Period                 string // "day" or "month"
	Quota, Remaining, Used int64
	Start, End, At         time.Time
	// Runs out is when the quota is used up at the pace so far (zero if
	// it lasts the period); Left what is left at the end otherwise.
	RunsOut time.Time
	Left    int64
	// The chart: the remaining line to now, and the projection.
	W, H, Left0, Top, PlotW, PlotH, Bottom int
	NowX, NowY, EndX, EndY                 float64
	YTicks, XTicks                         []chartTick
}

// newBurnDown returns the burn-down of l's month quota, or of its day
// quota when it has no month quota; nil when it has neither.
func newBurnDown(l *gateway.LiveLimits) *burnDown {
	p, d := l.Policy, l.Budget
	b := &burnDown{At: l.At, W: chartW, H: chartH, Left0: chartLeft, Top: chartTop, PlotW: chartPlotW, PlotH: chartPlotH,
		Bottom: chartTop + chartPlotH}
	switch {
	case p.QuotaMonth > 0:
		b.Period, b.Quota, b.Remaining = "month", p.QuotaMonth, d.MonthRemaining
		b.Start, b.End = ratelimit.MonthStart(l.At), l.At.Add(d.MonthReset)
	case p.QuotaDay > 0:
		b.Period, b.Quota, b.Remaining = "day", p.QuotaDay, d.DayRemaining
		b.Start, b.End = ratelimit.DayStart(l.At), l.At.Add(d.DayReset)
	default:
		return nil
	}
	b.Used = b.Quota - b.Remaining
	span, elapsed := b.End.Sub(b.Start), l.At.Sub(b.Start)
	x := func(t time.Time) float64 { return chartLeft + float64(t.Sub(b.Start))/float64(span)*chartPlotW }
	y := func(v int64) float64 { return float64(chartTop) + float64(b.Quota-v)/float64(b.Quota)*chartPlotH }
	b.NowX, b.NowY = x(l.At), y(b.Remaining)
	b.EndX, b.EndY = x(b.End), y(b.Remaining)
	if b.Used > 0 && elapsed > 0 {
		perNano := float64(b.Used) / float64(elapsed)
		if need := time.Duration(float64(b.Remaining) / perNano); l.At.Add(need).Before(b.End) {
			b.RunsOut = l.At.Add(need)
			b.EndX, b.EndY = x(b.RunsOut), y(0)
		} else {
			b.Left = b.Remaining - int64(perNano*float64(b.End.Sub(l.At)))
			b.EndY = y(b.Left)
		}
	} else {
		b.Left = b.Remaining
	}
	for i := 0; i <= chartYLabels; i++ {
		v := b.Quota * int64(i) / chartYLabels
		b.YTicks = append(b.YTicks, chartTick{Pos: y(v), Label: shortCount(v)})
	}
	layout := "2 Jan"
	if b.Period == "day" {
		layout = "15:00"
	}
	for i := 0; i <= 4; i++ {
		t := b.Start.Add(span * time.Duration(i) / 4)
		b.XTicks = append(b.XTicks, chartTick{Pos: x(t), Label: t.UTC().Format(layout)})
	}
	return b
}
