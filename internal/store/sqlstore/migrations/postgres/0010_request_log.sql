-- 0010_request_log keeps every gateway call for the portal's request log
-- and its diagnosis by correlator (PostgreSQL).

-- request_log holds one row per call. Its columns are names, not foreign
-- keys: a record is history and outlives the client, app, organisation
-- and API it names. id orders the records of one microsecond. Latencies
-- are in microseconds.
CREATE TABLE request_log (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at               timestamptz NOT NULL,
    correlator       text COLLATE "C" NOT NULL DEFAULT '',
    organization_id  text COLLATE "C" NOT NULL DEFAULT '',
    app_id           text COLLATE "C" NOT NULL DEFAULT '',
    client_id        text COLLATE "C" NOT NULL DEFAULT '',
    environment      text NOT NULL DEFAULT '',
    api_name         text COLLATE "C" NOT NULL DEFAULT '',
    method           text NOT NULL DEFAULT '',
    template         text NOT NULL DEFAULT '',
    operation_id     text NOT NULL DEFAULT '',
    status           integer NOT NULL,
    error_key        text COLLATE "C" NOT NULL DEFAULT '',
    cause            text NOT NULL DEFAULT '',
    stage            text NOT NULL DEFAULT '',
    plan             text NOT NULL DEFAULT '',
    latency          bigint NOT NULL DEFAULT 0,
    upstream_latency bigint NOT NULL DEFAULT 0,
    upstream_status  integer NOT NULL DEFAULT 0
);

-- An organisation's calls newest first (filters by app, API, status or
-- error read them in that order); its calls with one correlator; the
-- oldest calls, for pruning. Every index costs each write: a correlator
-- is random, so its index takes a page write per call (BENCHMARKS.md).
-- Only organisations' calls are looked up by correlator, so calls of no
-- organisation (an operator's clients, no valid token) stay out of it.
CREATE INDEX request_log_organization ON request_log (organization_id, at, id);
CREATE INDEX request_log_correlator ON request_log (organization_id, correlator, at) WHERE organization_id <> '';
CREATE INDEX request_log_at ON request_log (at);
