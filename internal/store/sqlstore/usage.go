package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"gatehouse/internal/store"
)

// upsertChunk is how many rows one multi-row INSERT writes: at most 8
// parameters each, well under SQLite's limit of 32766 per statement and
// PostgreSQL's of 65535.
const upsertChunk = 256

// upsert writes rs, each as the parameters row returns (as many for
// each), with one INSERT into head per upsertChunk rows, each ending with
// tail, in one transaction. Callers sort rs, so that concurrent batches
// lock shared rows in the same order and cannot deadlock.
func upsert[T any](db *DB, ctx context.Context, op, head, tail string, rs []T, row func(T) []any) error {
	return db.tx(ctx, op, func(tx *sql.Tx) error { return upsertIn(db, ctx, tx, op, head, tail, rs, row) })
}

// upsertIn is upsert within tx.
func upsertIn[T any](db *DB, ctx context.Context, tx *sql.Tx, op, head, tail string, rs []T, row func(T) []any) error {
	for chunk := range slices.Chunk(rs, upsertChunk) {
		rows := make([][]any, len(chunk))
		for i, r := range chunk {
			rows[i] = row(r)
		}
		values := "(" + placeholders(len(rows[0])) + ")"
		query := head + ` VALUES ` + values + strings.Repeat(", "+values, len(chunk)-1) + tail
		if err := db.do(ctx, tx, op, query, slices.Concat(rows...)...); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) AddUsage(ctx context.Context, records []store.UsageRecord) error {
	return db.run(ctx, true, func(ctx context.Context) error {
		if len(records) == 0 {
			return nil
		}
		rs, err := prepareUsage(records)
		if err != nil {
			return err
		}
		return db.tx(ctx, "add usage", func(tx *sql.Tx) error {
			if db.d.addUsage != "" {
				err = db.addUsageArrays(ctx, tx, rs)
			} else {
				err = upsertIn(db, ctx, tx, "add usage", `INSERT INTO usage (client_id, api_name, hour, status, error,
				count, latency_sum, latency_max)`, ` ON CONFLICT (client_id, api_name, hour, status, error) DO UPDATE SET
				count = usage.count + excluded.count,
				latency_sum = usage.latency_sum + excluded.latency_sum,
				latency_max = `+db.d.greatest+`(usage.latency_max, excluded.latency_max)`, rs,
					func(r store.UsageRecord) []any {
						return []any{r.ClientID, r.APIName, db.d.time(r.Hour), r.Status, r.Error, r.Count, r.LatencySum, r.LatencyMax}
					})
			}
			if err != nil {
				return err
			}
			lat := latencyRows(rs)
			if len(lat) == 0 {
				return nil
			}
			return upsertIn(db, ctx, tx, "add usage", `INSERT INTO usage_latency (client_id, api_name, hour, bucket, count)`,
				` ON CONFLICT (client_id, api_name, hour, bucket) DO UPDATE SET count = usage_latency.count + excluded.count`, lat,
				func(r latencyRow) []any { return []any{r.client, r.api, db.d.time(r.hour), r.bucket, r.count} })
		})
	})
}

// latencyRow is one bucket of one hour's latency histogram of a client's
// calls to an API: a row of usage_latency.
type latencyRow struct {
	client, api string
	hour        time.Time
	bucket      int
	count       int64
}

// latencyRows returns the non-empty histogram buckets of rs (sorted by
// usageKeyCompare) merged per client, API and hour, in the order of the
// table's primary key.
func latencyRows(rs []store.UsageRecord) []latencyRow {
	var out []latencyRow
	for i := 0; i < len(rs); {
		h := rs[i].Latency
		j := i + 1
		for ; j < len(rs) && rs[j].ClientID == rs[i].ClientID && rs[j].APIName == rs[i].APIName && rs[j].Hour.Equal(rs[i].Hour); j++ {
			h.Merge(&rs[j].Latency)
		}
		for b, c := range h {
			if c > 0 {
				out = append(out, latencyRow{rs[i].ClientID, rs[i].APIName, rs[i].Hour, b, c})
			}
		}
		i = j
	}
	return out
}

// addUsageArrays writes rs with dialect.addUsage, one array per column.
func (db *DB) addUsageArrays(ctx context.Context, tx *sql.Tx, rs []store.UsageRecord) error {
	n := len(rs)
	clients, apis, errs := make([]string, n), make([]string, n), make([]string, n)
	hours, statuses := make([]time.Time, n), make([]int32, n)
	counts, sums, maxes := make([]int64, n), make([]int64, n), make([]int64, n)
	for i, r := range rs {
		clients[i], apis[i], hours[i], statuses[i], errs[i] = r.ClientID, r.APIName, r.Hour, int32(r.Status), r.Error
		counts[i], sums[i], maxes[i] = r.Count, r.LatencySum, r.LatencyMax
	}
	_, err := db.exec(ctx, tx, db.d.addUsage, clients, apis, hours, statuses, errs, counts, sums, maxes)
	return db.err(ctx, "add usage", err)
}

// usageKeyCompare orders usage buckets: client, API, hour, status, error, the
// order of the tables' primary keys.
func usageKeyCompare(a, b store.UsageRecord) int {
	return cmp.Or(strings.Compare(a.ClientID, b.ClientID), strings.Compare(a.APIName, b.APIName),
		a.Hour.Compare(b.Hour), cmp.Compare(a.Status, b.Status), strings.Compare(a.Error, b.Error))
}

// prepareUsage returns a copy of records with every Hour truncated to the
// hour in UTC, sorted by bucket (usageKeyCompare) and with the records of
// one bucket merged into one. Writing buckets in this order is what keeps
// concurrent batches from deadlocking on PostgreSQL, and one row per
// bucket is what an INSERT ... ON CONFLICT DO UPDATE statement requires.
// A status outside the 32-bit range (the column's) is an error.
func prepareUsage(records []store.UsageRecord) ([]store.UsageRecord, error) {
	rs := slices.Clone(records)
	for i := range rs {
		if st := rs[i].Status; st < math.MinInt32 || st > math.MaxInt32 {
			return nil, fmt.Errorf("sqlstore: add usage: status %d out of range", st)
		}
		rs[i].Hour = rs[i].Hour.UTC().Truncate(time.Hour)
	}
	return sortMerge(rs, usageKeyCompare, func(into, r *store.UsageRecord) {
		into.Count += r.Count
		into.LatencySum += r.LatencySum
		into.LatencyMax = max(into.LatencyMax, r.LatencyMax)
		into.Latency.Merge(&r.Latency)
	}), nil
}

// sortMerge sorts s by compare and merges each element equal to the one
// before into that one, in place.
func sortMerge[T any](s []T, compare func(a, b T) int, merge func(into, v *T)) []T {
	slices.SortFunc(s, compare)
	out := s[:0]
	for i := range s {
		if n := len(out); n > 0 && compare(out[n-1], s[i]) == 0 {
			merge(&out[n-1], &s[i])
			continue
		}
		out = append(out, s[i])
	}
	return out
}

func (db *DB) ListUsage(ctx context.Context, f store.UsageFilter) ([]store.UsageRecord, error) {
	var w where
	w.add(f.ClientID != "", "client_id = ?", f.ClientID)
	w.add(f.APIName != "", "api_name = ?", f.APIName)
	w.add(!f.From.IsZero(), "hour >= ?", db.ceil(f.From))
	w.add(!f.To.IsZero(), "hour < ?", db.ceil(f.To))
	return list(db, ctx, "list usage", func(row scanner) (r store.UsageRecord, err error) {
		return r, row.Scan(&r.ClientID, &r.APIName, (*tm)(&r.Hour), &r.Status, &r.Error,
			&r.Count, &r.LatencySum, &r.LatencyMax)
	}, `SELECT client_id, api_name, hour, status, error, count, latency_sum, latency_max FROM usage`+
		w.String()+` ORDER BY hour, client_id, api_name, status, error`, w.args...)
}

func (db *DB) ListUsageLatency(ctx context.Context, f store.UsageFilter) ([]store.UsageLatency, error) {
	var w where
	w.add(f.ClientID != "", "client_id = ?", f.ClientID)
	w.add(f.APIName != "", "api_name = ?", f.APIName)
	w.add(!f.From.IsZero(), "hour >= ?", db.ceil(f.From))
	w.add(!f.To.IsZero(), "hour < ?", db.ceil(f.To))
	type row struct {
		store.UsageLatency
		bucket int
		count  int64
	}
	rows, err := list(db, ctx, "list usage latency", func(sc scanner) (r row, err error) {
		return r, sc.Scan(&r.ClientID, &r.APIName, (*tm)(&r.Hour), &r.bucket, &r.count)
	}, `SELECT client_id, api_name, hour, bucket, count FROM usage_latency`+
		w.String()+` ORDER BY hour, client_id, api_name, bucket`, w.args...)
	if err != nil {
		return nil, err
	}
	var out []store.UsageLatency
	for _, r := range rows {
		if r.bucket < 0 || r.bucket >= store.LatencyBuckets {
			continue // a bucket of a later version's histogram
		}
		if n := len(out); n == 0 || out[n-1].ClientID != r.ClientID || out[n-1].APIName != r.APIName || !out[n-1].Hour.Equal(r.Hour) {
			out = append(out, r.UsageLatency)
		}
		out[len(out)-1].Latency[r.bucket] += r.count
	}
	return out, nil
}

func (db *DB) SaveQuotaCounts(ctx context.Context, counts []store.QuotaCount) error {
	return db.run(ctx, true, func(ctx context.Context) error {
		if len(counts) == 0 {
			return nil
		}
		cs, err := prepareQuotaCounts(counts)
		if err != nil {
			return err
		}
		return upsert(db, ctx, "save quota counts", `INSERT INTO quota_counts (limiter_key, period, period_start, count)`,
			` ON CONFLICT (limiter_key, period, period_start) DO UPDATE SET
			count = `+db.d.greatest+`(quota_counts.count, excluded.count)`, cs,
			func(c store.QuotaCount) []any { return []any{c.Key, c.Period, db.d.time(c.Start), c.Count} })
	})
}

// prepareQuotaCounts checks counts and returns them sorted by key, period
// and start, with the counts of one row merged (the larger wins), so that
// concurrent saves lock rows in one order and one statement never touches
// a row twice.
func prepareQuotaCounts(counts []store.QuotaCount) ([]store.QuotaCount, error) {
	cs := slices.Clone(counts)
	for i := range cs {
		c := &cs[i]
		if c.Key == "" || (c.Period != store.QuotaDay && c.Period != store.QuotaMonth) || c.Count < 0 {
			return nil, fmt.Errorf("sqlstore: save quota counts: invalid count %+v", *c)
		}
		c.Start = c.Start.UTC()
	}
	return sortMerge(cs, func(a, b store.QuotaCount) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(a.Period, b.Period), a.Start.Compare(b.Start))
	}, func(into, c *store.QuotaCount) { into.Count = max(into.Count, c.Count) }), nil
}

func (db *DB) ListQuotaCounts(ctx context.Context, day, month time.Time) ([]store.QuotaCount, error) {
	// limiter_key is COLLATE "C" in PostgreSQL (0007_quota_counts.sql): byte order.
	return list(db, ctx, "list quota counts", func(row scanner) (c store.QuotaCount, err error) {
		return c, row.Scan(&c.Key, &c.Period, (*tm)(&c.Start), &c.Count)
	}, `SELECT limiter_key, period, period_start, count FROM quota_counts
		WHERE (period = 'day' AND period_start >= ?) OR (period = 'month' AND period_start >= ?)
		ORDER BY limiter_key, period, period_start`, db.ceil(day), db.ceil(month))
}

func (db *DB) DeleteQuotaCountsBefore(ctx context.Context, day, month time.Time) error {
	return db.write(ctx, "delete quota counts", `DELETE FROM quota_counts
		WHERE (period = 'day' AND period_start < ?) OR (period = 'month' AND period_start < ?)`,
		db.ceil(day), db.ceil(month))
}
