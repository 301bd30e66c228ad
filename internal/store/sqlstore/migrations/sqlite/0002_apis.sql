-- 0002_apis stores the gateway's APIs and the generation counter every
-- node polls to notice that they changed (SQLite).
--
-- An empty document is NULL. BINARY collation (SQLite's default) compares
-- and orders names and base paths byte by byte.

CREATE TABLE apis (
    name             TEXT PRIMARY KEY,
    title            TEXT NOT NULL DEFAULT '',
    version          TEXT NOT NULL DEFAULT '',
    base_path        TEXT NOT NULL UNIQUE,
    upstream_url     TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL DEFAULT '',
    error_media_type TEXT NOT NULL DEFAULT '',
    max_body_bytes   INTEGER NOT NULL DEFAULT 0,
    document         BLOB,
    created_at       INTEGER,
    updated_at       INTEGER
) STRICT;

-- generations holds change counters, one row per kind of record. Every
-- write of that kind increments its row in the same transaction, so a
-- reader that sees a value also sees every write it counts.
CREATE TABLE generations (
    name       TEXT PRIMARY KEY,
    generation INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO generations (name, generation) VALUES ('apis', 0);
