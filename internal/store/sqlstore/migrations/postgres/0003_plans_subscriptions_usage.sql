-- 0003_plans_subscriptions_usage stores plans, the subscriptions that bind
-- a client to an API under a plan, and hourly call counts (PostgreSQL).
--
-- Text keys use the "C" collation so that ORDER BY is byte order whatever
-- the database's locale (as in SQLite) and the key indexes serve it.

CREATE TABLE plans (
    name              text COLLATE "C" PRIMARY KEY,
    price_label       text NOT NULL DEFAULT '',
    description       text NOT NULL DEFAULT '',
    rate_per_second   double precision NOT NULL DEFAULT 0,
    burst             bigint NOT NULL DEFAULT 0,
    quota_day         bigint NOT NULL DEFAULT 0,
    quota_month       bigint NOT NULL DEFAULT 0,
    requires_approval boolean NOT NULL DEFAULT false,
    created_at        timestamptz,
    updated_at        timestamptz
);

-- A subscription goes with its client and its API; a plan cannot be
-- deleted while a subscription uses it. The constraints are named because
-- the store reports which reference is missing from the name.
CREATE TABLE subscriptions (
    id         text COLLATE "C" PRIMARY KEY,
    client_id  text COLLATE "C" NOT NULL
        CONSTRAINT subscriptions_client_fk REFERENCES clients (id) ON DELETE CASCADE,
    api_name   text COLLATE "C" NOT NULL
        CONSTRAINT subscriptions_api_fk REFERENCES apis (name) ON DELETE CASCADE,
    plan_name  text COLLATE "C" NOT NULL
        CONSTRAINT subscriptions_plan_fk REFERENCES plans (name) ON DELETE RESTRICT,
    status     text NOT NULL DEFAULT '',
    created_at timestamptz,
    updated_at timestamptz,
    CONSTRAINT subscriptions_client_api UNIQUE (client_id, api_name)
);

-- For deleting an API's subscriptions and checking a plan's.
CREATE INDEX subscriptions_api_name ON subscriptions (api_name);
CREATE INDEX subscriptions_plan_name ON subscriptions (plan_name);

-- usage holds one row per client, API, UTC hour, status and error. Its keys
-- are not foreign keys: the history outlives deleted clients and APIs.
CREATE TABLE usage (
    client_id   text COLLATE "C" NOT NULL,
    api_name    text COLLATE "C" NOT NULL,
    hour        timestamptz NOT NULL,
    status      integer NOT NULL,
    error       text COLLATE "C" NOT NULL,
    count       bigint NOT NULL,
    latency_sum bigint NOT NULL,
    latency_max bigint NOT NULL,
    PRIMARY KEY (client_id, api_name, hour, status, error)
);

-- For listing every client's usage over a time range.
CREATE INDEX usage_hour ON usage (hour);

-- Every write to plans and subscriptions increments this counter.
INSERT INTO generations (name, generation) VALUES ('access', 0);
