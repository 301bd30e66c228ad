-- 0004_users_grants stores end users and what the three-legged flows issue
-- to them: authorization codes, refresh tokens (in families) and CIBA
-- requests (PostgreSQL).
--
-- Codes and tokens are keyed by the hex SHA-256 of their value. A grant
-- goes with its client and its user (ON DELETE CASCADE); the foreign key
-- columns are indexed so that those deletions do not scan the tables,
-- and the constraints are named because the store reports which
-- reference is missing from the name. expires_at is indexed for
-- DeleteExpiredGrants. Text keys use the "C" collation so that ORDER BY
-- is byte order whatever the database's locale (as in SQLite).

-- An empty phone number is NULL, so that any number of users may have
-- none while a number belongs to one user at most.
CREATE TABLE users (
    id            text COLLATE "C" PRIMARY KEY,
    username      text COLLATE "C" NOT NULL UNIQUE,
    phone_number  text COLLATE "C" UNIQUE,
    password_hash text NOT NULL DEFAULT '',
    created_at    timestamptz,
    updated_at    timestamptz
);

-- used_at is NULL until the first redemption.
CREATE TABLE auth_codes (
    hash                  text COLLATE "C" PRIMARY KEY,
    client_id             text COLLATE "C" NOT NULL
        CONSTRAINT auth_codes_client_fk REFERENCES clients (id) ON DELETE CASCADE,
    user_id               text COLLATE "C" NOT NULL
        CONSTRAINT auth_codes_user_fk REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri          text NOT NULL DEFAULT '',
    scopes                text NOT NULL DEFAULT '[]',
    nonce                 text NOT NULL DEFAULT '',
    code_challenge        text NOT NULL DEFAULT '',
    code_challenge_method text NOT NULL DEFAULT '',
    auth_time             timestamptz,
    expires_at            timestamptz,
    used_at               timestamptz,
    grant_id              text NOT NULL DEFAULT '',
    created_at            timestamptz
);

CREATE INDEX auth_codes_client_id ON auth_codes (client_id);
CREATE INDEX auth_codes_user_id ON auth_codes (user_id);
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

-- rotated_at and revoked_at are NULL while the token is usable.
CREATE TABLE refresh_tokens (
    hash       text COLLATE "C" PRIMARY KEY,
    family_id  text COLLATE "C" NOT NULL,
    client_id  text COLLATE "C" NOT NULL
        CONSTRAINT refresh_tokens_client_fk REFERENCES clients (id) ON DELETE CASCADE,
    user_id    text COLLATE "C" NOT NULL
        CONSTRAINT refresh_tokens_user_fk REFERENCES users (id) ON DELETE CASCADE,
    scopes     text NOT NULL DEFAULT '[]',
    auth_time  timestamptz,
    expires_at timestamptz,
    rotated_at timestamptz,
    revoked_at timestamptz,
    created_at timestamptz
);

CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_client_id ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE ciba_requests (
    id              text COLLATE "C" PRIMARY KEY,
    client_id       text COLLATE "C" NOT NULL
        CONSTRAINT ciba_requests_client_fk REFERENCES clients (id) ON DELETE CASCADE,
    user_id         text COLLATE "C" NOT NULL
        CONSTRAINT ciba_requests_user_fk REFERENCES users (id) ON DELETE CASCADE,
    scopes          text NOT NULL DEFAULT '[]',
    binding_message text NOT NULL DEFAULT '',
    status          text NOT NULL DEFAULT '',
    interval        bigint NOT NULL DEFAULT 0,
    last_poll_at    timestamptz,
    auth_time       timestamptz,
    expires_at      timestamptz,
    created_at      timestamptz,
    updated_at      timestamptz
);

-- For a user's pending requests; it also serves deleting a user's.
CREATE INDEX ciba_requests_user_id_status ON ciba_requests (user_id, status);
CREATE INDEX ciba_requests_client_id ON ciba_requests (client_id);
CREATE INDEX ciba_requests_expires_at ON ciba_requests (expires_at);
