-- 0011_usage_latency keeps how long calls took, per client, API and UTC
-- hour, as a histogram, for the portal's latency percentiles (SQLite).

-- usage_latency holds one row per client, API, hour (unix milliseconds)
-- and non-empty bucket of store.LatencyBounds (0 the fastest). Like
-- usage's, its keys are not foreign keys.
CREATE TABLE usage_latency (
    client_id TEXT NOT NULL,
    api_name  TEXT NOT NULL,
    hour      INTEGER NOT NULL,
    bucket    INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (client_id, api_name, hour, bucket)
) STRICT, WITHOUT ROWID;

-- For reading every client's histograms over a time range.
CREATE INDEX usage_latency_hour ON usage_latency (hour);
