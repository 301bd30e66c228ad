-- 0010_request_log keeps every gateway call for the portal's request log
-- and its diagnosis by correlator (SQLite).

-- request_log holds one row per call. Its columns are names, not foreign
-- keys: a record is history and outlives the client, app, organisation
-- and API it names. id orders the records of one millisecond. Latencies
-- are in microseconds.
CREATE TABLE request_log (
    id               INTEGER PRIMARY KEY,
    at               INTEGER NOT NULL,
    correlator       TEXT NOT NULL DEFAULT '',
    organization_id  TEXT NOT NULL DEFAULT '',
    app_id           TEXT NOT NULL DEFAULT '',
    client_id        TEXT NOT NULL DEFAULT '',
    environment      TEXT NOT NULL DEFAULT '',
    api_name         TEXT NOT NULL DEFAULT '',
    method           TEXT NOT NULL DEFAULT '',
    template         TEXT NOT NULL DEFAULT '',
    operation_id     TEXT NOT NULL DEFAULT '',
    status           INTEGER NOT NULL,
    error_key        TEXT NOT NULL DEFAULT '',
    cause            TEXT NOT NULL DEFAULT '',
    stage            TEXT NOT NULL DEFAULT '',
    plan             TEXT NOT NULL DEFAULT '',
    latency          INTEGER NOT NULL DEFAULT 0,
    upstream_latency INTEGER NOT NULL DEFAULT 0,
    upstream_status  INTEGER NOT NULL DEFAULT 0
) STRICT;

-- An organisation's calls newest first (filters by app, API, status or
-- error read them in that order); its calls with one correlator; the
-- oldest calls, for pruning. Every index costs each write: a correlator
-- is random, so its index takes a page write per call (BENCHMARKS.md).
-- Only organisations' calls are looked up by correlator, so calls of no
-- organisation (an operator's clients, no valid token) stay out of it.
CREATE INDEX request_log_organization ON request_log (organization_id, at, id);
CREATE INDEX request_log_correlator ON request_log (organization_id, correlator, at) WHERE organization_id <> '';
CREATE INDEX request_log_at ON request_log (at);
