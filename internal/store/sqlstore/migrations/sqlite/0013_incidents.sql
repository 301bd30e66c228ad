-- 0013_incidents keeps what the operator tells developers about failures
-- of an API (api_name) or of the platform (api_name ''), for the public
-- status page (SQLite). updates is a JSON array of {at, status, message},
-- oldest first; resolved_at is NULL while the incident is open.
CREATE TABLE incidents (
    id          TEXT PRIMARY KEY,
    api_name    TEXT NOT NULL DEFAULT '',
    title       TEXT NOT NULL,
    impact      TEXT NOT NULL,
    status      TEXT NOT NULL,
    updates     TEXT NOT NULL DEFAULT '[]',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    resolved_at INTEGER
) STRICT;

CREATE INDEX incidents_resolved_at ON incidents (resolved_at);
