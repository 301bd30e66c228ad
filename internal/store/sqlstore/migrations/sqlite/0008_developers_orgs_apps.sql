-- 0008_developers_orgs_apps stores the developer portal's accounts:
-- developers, the organisations they belong to (memberships) or are
-- invited to, and the organisations' apps, whose credentials are clients
-- (SQLite).
--
-- What belongs to an organisation goes with it (ON DELETE CASCADE): its
-- memberships, invitations and apps, and through apps their clients, which
-- take their subscriptions and grants with them (0003, 0004). A developer
-- takes their memberships. An invitation's invited_by is not a foreign
-- key: an invitation outlives the developer who sent it. BINARY collation
-- (SQLite's default) compares and orders keys byte by byte; e-mail
-- addresses are stored lower-cased, so that one address has one account.

CREATE TABLE developers (
    id                  TEXT PRIMARY KEY,
    email               TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL DEFAULT '',
    password_hash       TEXT NOT NULL DEFAULT '',
    email_verified_at   INTEGER,
    status              TEXT NOT NULL DEFAULT '',
    totp_secret_sealed  BLOB,
    sessions_not_before INTEGER,
    created_at          INTEGER,
    updated_at          INTEGER
) STRICT;

CREATE TABLE organizations (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL DEFAULT '',
    created_at INTEGER,
    updated_at INTEGER
) STRICT;

-- For listing organisations by name.
CREATE INDEX organizations_name ON organizations (name, id);

-- The primary key serves an organisation's members; the index a
-- developer's memberships (and deleting a developer).
CREATE TABLE memberships (
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    developer_id    TEXT NOT NULL REFERENCES developers (id) ON DELETE CASCADE,
    role            TEXT NOT NULL DEFAULT '',
    created_at      INTEGER,
    PRIMARY KEY (organization_id, developer_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX memberships_developer_id ON memberships (developer_id);

-- One invitation per organisation and address; the unique index also
-- serves an organisation's invitations.
CREATE TABLE invitations (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    role            TEXT NOT NULL DEFAULT '',
    invited_by      TEXT NOT NULL DEFAULT '',
    created_at      INTEGER,
    expires_at      INTEGER,
    UNIQUE (organization_id, email)
) STRICT;

CREATE TABLE apps (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL DEFAULT '',
    created_at      INTEGER,
    updated_at      INTEGER
) STRICT;

CREATE INDEX apps_organization_id ON apps (organization_id);

-- A client is an app's credential for one environment, or (app_id NULL)
-- an operator's client outside the portal. last_used_at is NULL until the
-- first recorded use. SQLite adds a column with a foreign key only when
-- its default is NULL, as app_id's is.
ALTER TABLE clients ADD COLUMN app_id TEXT REFERENCES apps (id) ON DELETE CASCADE;
ALTER TABLE clients ADD COLUMN environment TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN last_used_at INTEGER;

-- At most one client per app and environment (NULLs are distinct, so
-- operators' clients never collide); the index also serves an app's
-- clients and deleting them with the app.
CREATE UNIQUE INDEX clients_app_id_environment ON clients (app_id, environment);
