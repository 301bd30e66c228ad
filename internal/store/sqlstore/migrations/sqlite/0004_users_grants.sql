-- 0004_users_grants stores end users and what the three-legged flows issue
-- to them: authorization codes, refresh tokens (in families) and CIBA
-- requests (SQLite).
--
-- Codes and tokens are keyed by the hex SHA-256 of their value. A grant
-- goes with its client and its user (ON DELETE CASCADE); the foreign key
-- columns are indexed so that those deletions do not scan the tables.
-- expires_at is indexed for DeleteExpiredGrants. BINARY collation
-- (SQLite's default) compares and orders keys byte by byte.

-- An empty phone number is NULL, so that any number of users may have
-- none while a number belongs to one user at most.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    phone_number  TEXT UNIQUE,
    password_hash TEXT NOT NULL DEFAULT '',
    created_at    INTEGER,
    updated_at    INTEGER
) STRICT;

-- used_at is NULL until the first redemption.
CREATE TABLE auth_codes (
    hash                  TEXT PRIMARY KEY,
    client_id             TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id               TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri          TEXT NOT NULL DEFAULT '',
    scopes                TEXT NOT NULL DEFAULT '[]',
    nonce                 TEXT NOT NULL DEFAULT '',
    code_challenge        TEXT NOT NULL DEFAULT '',
    code_challenge_method TEXT NOT NULL DEFAULT '',
    auth_time             INTEGER,
    expires_at            INTEGER,
    used_at               INTEGER,
    grant_id              TEXT NOT NULL DEFAULT '',
    created_at            INTEGER
) STRICT;

CREATE INDEX auth_codes_client_id ON auth_codes (client_id);
CREATE INDEX auth_codes_user_id ON auth_codes (user_id);
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

-- rotated_at and revoked_at are NULL while the token is usable.
CREATE TABLE refresh_tokens (
    hash       TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL DEFAULT '[]',
    auth_time  INTEGER,
    expires_at INTEGER,
    rotated_at INTEGER,
    revoked_at INTEGER,
    created_at INTEGER
) STRICT;

CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_client_id ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE ciba_requests (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes          TEXT NOT NULL DEFAULT '[]',
    binding_message TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL DEFAULT '',
    interval        INTEGER NOT NULL DEFAULT 0,
    last_poll_at    INTEGER,
    auth_time       INTEGER,
    expires_at      INTEGER,
    created_at      INTEGER,
    updated_at      INTEGER
) STRICT;

-- For a user's pending requests; it also serves deleting a user's.
CREATE INDEX ciba_requests_user_id_status ON ciba_requests (user_id, status);
CREATE INDEX ciba_requests_client_id ON ciba_requests (client_id);
CREATE INDEX ciba_requests_expires_at ON ciba_requests (expires_at);
