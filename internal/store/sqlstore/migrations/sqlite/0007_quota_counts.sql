-- 0007_quota_counts keeps the in-process limiter's quota counters, so that
-- a single node's day and month quotas outlive a restart (issue 10 §3).
-- One row per limiter key, period ('day' or 'month') and period start
-- (unix milliseconds, UTC midnight); count only grows within a period.
CREATE TABLE quota_counts (
    limiter_key  TEXT NOT NULL,
    period       TEXT NOT NULL CHECK (period IN ('day', 'month')),
    period_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (limiter_key, period, period_start)
) STRICT, WITHOUT ROWID;
