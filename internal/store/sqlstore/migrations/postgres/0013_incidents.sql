-- 0013_incidents keeps what the operator tells developers about failures
-- of an API (api_name) or of the platform (api_name ''), for the public
-- status page (PostgreSQL). updates is a JSON array of {at, status,
-- message}, oldest first; resolved_at is NULL while the incident is open.
CREATE TABLE incidents (
    id          text COLLATE "C" PRIMARY KEY,
    api_name    text COLLATE "C" NOT NULL DEFAULT '',
    title       text NOT NULL,
    impact      text NOT NULL,
    status      text NOT NULL,
    updates     text NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    resolved_at timestamptz
);

CREATE INDEX incidents_resolved_at ON incidents (resolved_at);
