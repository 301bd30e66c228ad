-- 0009_orders stores orders, the purchase history of subscriptions, and
-- the plan a subscription's change waits for (PostgreSQL).

-- pending_plan_name is the plan a change asked for while it waits for an
-- operator's approval, NULL when none; like plan_name, it keeps its plan
-- from being deleted. The constraint is named because the store reports
-- which reference is missing from the name.
ALTER TABLE subscriptions ADD COLUMN pending_plan_name text COLLATE "C"
    CONSTRAINT subscriptions_pending_plan_fk REFERENCES plans (name) ON DELETE RESTRICT;

-- For checking a plan's pending subscribers before deleting it.
CREATE INDEX subscriptions_pending_plan_name ON subscriptions (pending_plan_name);

-- orders holds one row per order. Its columns are names, not foreign
-- keys: an order is history and outlives the subscription, client, app,
-- organisation and API it names. A cascade would erase the history with
-- them, and SET NULL would forget whose order it was. seq orders the
-- orders stored within one microsecond.
CREATE TABLE orders (
    seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              text COLLATE "C" NOT NULL CONSTRAINT orders_id UNIQUE,
    organization_id text COLLATE "C" NOT NULL DEFAULT '',
    app_id          text COLLATE "C" NOT NULL DEFAULT '',
    developer_id    text COLLATE "C" NOT NULL DEFAULT '',
    client_id       text COLLATE "C" NOT NULL DEFAULT '',
    api_name        text COLLATE "C" NOT NULL DEFAULT '',
    subscription_id text COLLATE "C" NOT NULL,
    kind            text NOT NULL,
    from_plan       text COLLATE "C" NOT NULL DEFAULT '',
    to_plan         text COLLATE "C" NOT NULL DEFAULT '',
    price_label     text NOT NULL DEFAULT '',
    status          text NOT NULL,
    created_at      timestamptz,
    updated_at      timestamptz
);

-- A subscription has at most one pending order; it also finds that order.
CREATE UNIQUE INDEX orders_pending ON orders (subscription_id) WHERE status = 'pending';

-- For listing by each filter, newest first.
CREATE INDEX orders_subscription ON orders (subscription_id, created_at);
CREATE INDEX orders_client ON orders (client_id, created_at);
CREATE INDEX orders_app ON orders (app_id, created_at);
CREATE INDEX orders_organization ON orders (organization_id, created_at);
