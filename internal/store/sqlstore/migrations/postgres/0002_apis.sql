-- 0002_apis stores the gateway's APIs and the generation counter every
-- node polls to notice that they changed (PostgreSQL).
--
-- An empty document is NULL. Names use the "C" collation so that ORDER BY
-- name is byte order whatever the database's locale (as in SQLite), and
-- the primary key's index serves it.

CREATE TABLE apis (
    name             text COLLATE "C" PRIMARY KEY,
    title            text NOT NULL DEFAULT '',
    version          text NOT NULL DEFAULT '',
    base_path        text NOT NULL UNIQUE,
    upstream_url     text NOT NULL DEFAULT '',
    status           text NOT NULL DEFAULT '',
    error_media_type text NOT NULL DEFAULT '',
    max_body_bytes   bigint NOT NULL DEFAULT 0,
    document         bytea,
    created_at       timestamptz,
    updated_at       timestamptz
);

-- generations holds change counters, one row per kind of record. Every
-- write of that kind increments its row in the same transaction, so a
-- reader that sees a value also sees every write it counts.
CREATE TABLE generations (
    name       text PRIMARY KEY,
    generation bigint NOT NULL
);

INSERT INTO generations (name, generation) VALUES ('apis', 0);
