-- 0006_idempotency_keys keeps the requests sent with an Idempotency-Key
-- (admin POSTs) and, once finished, their responses, so that a retry on any
-- node replays the response instead of repeating the change. status is 0
-- while the first request is in progress; body is sealed by the caller.

CREATE TABLE idempotency_keys (
	key         text PRIMARY KEY,
	fingerprint text NOT NULL,
	status      integer NOT NULL DEFAULT 0,
	header      bytea,
	body        bytea,
	created_at  timestamptz NOT NULL,
	expires_at  timestamptz NOT NULL
);

CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
