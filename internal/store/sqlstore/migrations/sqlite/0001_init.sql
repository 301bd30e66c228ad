-- 0001_init creates gatehouse's first tables (SQLite).
--
-- Times are INTEGER unix milliseconds in UTC; NULL is the zero time.
-- Lists are JSON arrays of strings stored as TEXT. Empty byte strings are
-- NULL. STRICT tables reject values of the wrong type.

CREATE TABLE clients (
    id                         TEXT PRIMARY KEY,
    name                       TEXT NOT NULL,
    secret_hash                BLOB,
    previous_secret_hash       BLOB,
    previous_secret_expires_at INTEGER,
    grant_types                TEXT NOT NULL DEFAULT '[]',
    scopes                     TEXT NOT NULL DEFAULT '[]',
    redirect_uris              TEXT NOT NULL DEFAULT '[]',
    token_endpoint_auth_method TEXT NOT NULL DEFAULT '',
    jwks                       TEXT NOT NULL DEFAULT '',
    status                     TEXT NOT NULL DEFAULT '',
    created_at                 INTEGER,
    updated_at                 INTEGER
) STRICT;

-- seq orders keys created in the same millisecond.
CREATE TABLE signing_keys (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    algorithm   TEXT NOT NULL,
    private_key BLOB,
    public_jwk  BLOB,
    created_at  INTEGER,
    retired_at  INTEGER
) STRICT;

CREATE TABLE revoked_tokens (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER NOT NULL
) STRICT;

CREATE INDEX revoked_tokens_revoked_at ON revoked_tokens (revoked_at);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);

CREATE TABLE assertion_ids (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (client_id, jti)
) STRICT, WITHOUT ROWID;

CREATE INDEX assertion_ids_expires_at ON assertion_ids (expires_at);
