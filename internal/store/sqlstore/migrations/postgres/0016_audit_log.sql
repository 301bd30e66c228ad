-- 0016_audit_log keeps every operator and developer action: who, what,
-- when, from which address and how it ended (PostgreSQL). Names, not
-- foreign keys: the log outlives what it names.
CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor_kind text COLLATE "C" NOT NULL,
    actor_id   text COLLATE "C" NOT NULL DEFAULT '',
    action     text NOT NULL,
    target     text NOT NULL DEFAULT '',
    address    text NOT NULL DEFAULT '',
    status     integer NOT NULL,
    correlator text NOT NULL DEFAULT ''
);

CREATE INDEX audit_log_actor ON audit_log (actor_kind, actor_id, id);
