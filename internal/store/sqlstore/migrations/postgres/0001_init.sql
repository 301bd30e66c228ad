-- 0001_init creates gatehouse's first tables (PostgreSQL).
--
-- Times are timestamptz; NULL is the zero time. Lists are JSON arrays of
-- strings stored as text. Empty byte strings are NULL.

CREATE TABLE clients (
    id                         text PRIMARY KEY,
    name                       text NOT NULL,
    secret_hash                bytea,
    previous_secret_hash       bytea,
    previous_secret_expires_at timestamptz,
    grant_types                text NOT NULL DEFAULT '[]',
    scopes                     text NOT NULL DEFAULT '[]',
    redirect_uris              text NOT NULL DEFAULT '[]',
    token_endpoint_auth_method text NOT NULL DEFAULT '',
    jwks                       text NOT NULL DEFAULT '',
    status                     text NOT NULL DEFAULT '',
    created_at                 timestamptz,
    updated_at                 timestamptz
);

-- seq orders keys created in the same microsecond.
CREATE TABLE signing_keys (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          text NOT NULL UNIQUE,
    algorithm   text NOT NULL,
    private_key bytea,
    public_jwk  bytea,
    created_at  timestamptz,
    retired_at  timestamptz
);

CREATE TABLE revoked_tokens (
    id         text PRIMARY KEY,
    client_id  text NOT NULL,
    expires_at timestamptz,
    revoked_at timestamptz NOT NULL
);

CREATE INDEX revoked_tokens_revoked_at ON revoked_tokens (revoked_at);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);

CREATE TABLE assertion_ids (
    client_id  text NOT NULL,
    jti        text NOT NULL,
    expires_at timestamptz,
    PRIMARY KEY (client_id, jti)
);

CREATE INDEX assertion_ids_expires_at ON assertion_ids (expires_at);
