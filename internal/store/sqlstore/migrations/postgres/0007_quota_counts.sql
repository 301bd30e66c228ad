-- 0007_quota_counts keeps the in-process limiter's quota counters, so that
-- a single node's day and month quotas outlive a restart (issue 10 §3).
-- One row per limiter key, period ('day' or 'month') and period start
-- (UTC midnight); count only grows within a period.
CREATE TABLE quota_counts (
    limiter_key  text COLLATE "C" NOT NULL,
    period       text COLLATE "C" NOT NULL CHECK (period IN ('day', 'month')),
    period_start timestamptz NOT NULL,
    count        bigint NOT NULL,
    PRIMARY KEY (limiter_key, period, period_start)
);
