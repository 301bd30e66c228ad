-- 0016_audit_log keeps every operator and developer action: who, what,
-- when, from which address and how it ended (SQLite). Names, not foreign
-- keys: the log outlives what it names.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id   TEXT NOT NULL DEFAULT '',
    action     TEXT NOT NULL,
    target     TEXT NOT NULL DEFAULT '',
    address    TEXT NOT NULL DEFAULT '',
    status     INTEGER NOT NULL,
    correlator TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX audit_log_actor ON audit_log (actor_kind, actor_id, id);
