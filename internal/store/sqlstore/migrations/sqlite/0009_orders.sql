-- 0009_orders stores orders, the purchase history of subscriptions, and
-- the plan a subscription's change waits for (SQLite).

-- pending_plan_name is the plan a change asked for while it waits for an
-- operator's approval, NULL when none; like plan_name, it keeps its plan
-- from being deleted. SQLite adds a column with a foreign key only when
-- its default is NULL, which it is.
ALTER TABLE subscriptions ADD COLUMN pending_plan_name TEXT
    REFERENCES plans (name) ON DELETE RESTRICT;

-- For checking a plan's pending subscribers before deleting it.
CREATE INDEX subscriptions_pending_plan_name ON subscriptions (pending_plan_name);

-- orders holds one row per order. Its columns are names, not foreign
-- keys: an order is history and outlives the subscription, client, app,
-- organisation and API it names. A cascade would erase the history with
-- them, and SET NULL would forget whose order it was. seq orders the
-- orders stored within one millisecond (rows are never deleted, so the
-- rowid it names only grows).
CREATE TABLE orders (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL DEFAULT '',
    app_id          TEXT NOT NULL DEFAULT '',
    developer_id    TEXT NOT NULL DEFAULT '',
    client_id       TEXT NOT NULL DEFAULT '',
    api_name        TEXT NOT NULL DEFAULT '',
    subscription_id TEXT NOT NULL,
    kind            TEXT NOT NULL,
    from_plan       TEXT NOT NULL DEFAULT '',
    to_plan         TEXT NOT NULL DEFAULT '',
    price_label     TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    created_at      INTEGER,
    updated_at      INTEGER
) STRICT;

-- A subscription has at most one pending order; it also finds that order.
CREATE UNIQUE INDEX orders_pending ON orders (subscription_id) WHERE status = 'pending';

-- For listing by each filter, newest first.
CREATE INDEX orders_subscription ON orders (subscription_id, created_at);
CREATE INDEX orders_client ON orders (client_id, created_at);
CREATE INDEX orders_app ON orders (app_id, created_at);
CREATE INDEX orders_organization ON orders (organization_id, created_at);
