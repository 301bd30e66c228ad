-- 0003_plans_subscriptions_usage stores plans, the subscriptions that bind
-- a client to an API under a plan, and hourly call counts (SQLite).
--
-- Foreign keys hold because every connection sets PRAGMA foreign_keys
-- (sqlite.go). BINARY collation (SQLite's default) orders keys byte by
-- byte.

CREATE TABLE plans (
    name              TEXT PRIMARY KEY,
    price_label       TEXT NOT NULL DEFAULT '',
    description       TEXT NOT NULL DEFAULT '',
    rate_per_second   REAL NOT NULL DEFAULT 0,
    burst             INTEGER NOT NULL DEFAULT 0,
    quota_day         INTEGER NOT NULL DEFAULT 0,
    quota_month       INTEGER NOT NULL DEFAULT 0,
    requires_approval INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER,
    updated_at        INTEGER
) STRICT;

-- A subscription goes with its client and its API; a plan cannot be
-- deleted while a subscription uses it.
CREATE TABLE subscriptions (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    api_name   TEXT NOT NULL REFERENCES apis (name) ON DELETE CASCADE,
    plan_name  TEXT NOT NULL REFERENCES plans (name) ON DELETE RESTRICT,
    status     TEXT NOT NULL DEFAULT '',
    created_at INTEGER,
    updated_at INTEGER,
    UNIQUE (client_id, api_name)
) STRICT;

-- For deleting an API's subscriptions and checking a plan's.
CREATE INDEX subscriptions_api_name ON subscriptions (api_name);
CREATE INDEX subscriptions_plan_name ON subscriptions (plan_name);

-- usage holds one row per client, API, UTC hour (unix milliseconds),
-- status and error. Its keys are not foreign keys: the history outlives
-- deleted clients and APIs.
CREATE TABLE usage (
    client_id   TEXT NOT NULL,
    api_name    TEXT NOT NULL,
    hour        INTEGER NOT NULL,
    status      INTEGER NOT NULL,
    error       TEXT NOT NULL,
    count       INTEGER NOT NULL,
    latency_sum INTEGER NOT NULL,
    latency_max INTEGER NOT NULL,
    PRIMARY KEY (client_id, api_name, hour, status, error)
) STRICT, WITHOUT ROWID;

-- For listing every client's usage over a time range.
CREATE INDEX usage_hour ON usage (hour);

-- Every write to plans and subscriptions increments this counter.
INSERT INTO generations (name, generation) VALUES ('access', 0);
