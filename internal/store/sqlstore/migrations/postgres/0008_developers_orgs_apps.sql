-- 0008_developers_orgs_apps stores the developer portal's accounts:
-- developers, the organisations they belong to (memberships) or are
-- invited to, and the organisations' apps, whose credentials are clients
-- (PostgreSQL).
--
-- What belongs to an organisation goes with it (ON DELETE CASCADE): its
-- memberships, invitations and apps, and through apps their clients, which
-- take their subscriptions and grants with them (0003, 0004). A developer
-- takes their memberships. An invitation's invited_by is not a foreign
-- key: an invitation outlives the developer who sent it. The foreign keys
-- are named because the store reports which reference is missing from the
-- name. Text keys use the "C" collation so that ORDER BY is byte order
-- whatever the database's locale (as in SQLite); e-mail addresses are
-- stored lower-cased, so that one address has one account.

CREATE TABLE developers (
    id                  text COLLATE "C" PRIMARY KEY,
    email               text COLLATE "C" NOT NULL UNIQUE,
    name                text NOT NULL DEFAULT '',
    password_hash       text NOT NULL DEFAULT '',
    email_verified_at   timestamptz,
    status              text NOT NULL DEFAULT '',
    totp_secret_sealed  bytea,
    sessions_not_before timestamptz,
    created_at          timestamptz,
    updated_at          timestamptz
);

CREATE TABLE organizations (
    id         text COLLATE "C" PRIMARY KEY,
    name       text COLLATE "C" NOT NULL DEFAULT '',
    created_at timestamptz,
    updated_at timestamptz
);

-- For listing organisations by name.
CREATE INDEX organizations_name ON organizations (name, id);

-- The primary key serves an organisation's members; the index a
-- developer's memberships (and deleting a developer).
CREATE TABLE memberships (
    organization_id text COLLATE "C" NOT NULL
        CONSTRAINT memberships_organization_fk REFERENCES organizations (id) ON DELETE CASCADE,
    developer_id    text COLLATE "C" NOT NULL
        CONSTRAINT memberships_developer_fk REFERENCES developers (id) ON DELETE CASCADE,
    role            text NOT NULL DEFAULT '',
    created_at      timestamptz,
    PRIMARY KEY (organization_id, developer_id)
);

CREATE INDEX memberships_developer_id ON memberships (developer_id);

-- One invitation per organisation and address; the unique index also
-- serves an organisation's invitations.
CREATE TABLE invitations (
    id              text COLLATE "C" PRIMARY KEY,
    organization_id text COLLATE "C" NOT NULL
        CONSTRAINT invitations_organization_fk REFERENCES organizations (id) ON DELETE CASCADE,
    email           text COLLATE "C" NOT NULL,
    role            text NOT NULL DEFAULT '',
    invited_by      text COLLATE "C" NOT NULL DEFAULT '',
    created_at      timestamptz,
    expires_at      timestamptz,
    CONSTRAINT invitations_organization_email UNIQUE (organization_id, email)
);

CREATE TABLE apps (
    id              text COLLATE "C" PRIMARY KEY,
    organization_id text COLLATE "C" NOT NULL
        CONSTRAINT apps_organization_fk REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL DEFAULT '',
    created_at      timestamptz,
    updated_at      timestamptz
);

CREATE INDEX apps_organization_id ON apps (organization_id);

-- A client is an app's credential for one environment, or (app_id NULL)
-- an operator's client outside the portal. last_used_at is NULL until the
-- first recorded use.
ALTER TABLE clients
    ADD COLUMN app_id text COLLATE "C"
        CONSTRAINT clients_app_fk REFERENCES apps (id) ON DELETE CASCADE,
    ADD COLUMN environment text COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN last_used_at timestamptz;

-- At most one client per app and environment (NULLs are distinct, so
-- operators' clients never collide); the index also serves an app's
-- clients and deleting them with the app.
CREATE UNIQUE INDEX clients_app_id_environment ON clients (app_id, environment);
