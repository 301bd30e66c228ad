-- 0014_webhooks keeps each organisation's webhook endpoints and the
-- deliveries of events to them (PostgreSQL). events is a JSON array of
-- event types (empty: all); secret_sealed is the signing secret sealed
-- with the system secret. Deleting an organisation or a webhook deletes
-- its deliveries.
CREATE TABLE webhooks (
    id              text COLLATE "C" PRIMARY KEY,
    organization_id text COLLATE "C" NOT NULL
        CONSTRAINT webhooks_organization_fk REFERENCES organizations (id) ON DELETE CASCADE,
    url             text NOT NULL,
    secret_sealed   bytea NOT NULL,
    events          text NOT NULL DEFAULT '[]',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE INDEX webhooks_organization ON webhooks (organization_id, created_at);

CREATE TABLE webhook_deliveries (
    id              text COLLATE "C" PRIMARY KEY,
    webhook_id      text COLLATE "C" NOT NULL
        CONSTRAINT webhook_deliveries_webhook_fk REFERENCES webhooks (id) ON DELETE CASCADE,
    organization_id text COLLATE "C" NOT NULL,
    event_id        text COLLATE "C" NOT NULL,
    event_type      text NOT NULL,
    payload         bytea NOT NULL,
    status          text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_status     integer NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_organization ON webhook_deliveries (organization_id, created_at);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id);
