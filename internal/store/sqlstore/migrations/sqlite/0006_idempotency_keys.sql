-- 0006_idempotency_keys keeps the requests sent with an Idempotency-Key
-- (admin POSTs) and, once finished, their responses, so that a retry on any
-- node replays the response instead of repeating the change. status is 0
-- while the first request is in progress; body is sealed by the caller.

CREATE TABLE idempotency_keys (
	key         TEXT PRIMARY KEY,
	fingerprint TEXT NOT NULL,
	status      INTEGER NOT NULL DEFAULT 0,
	header      BLOB,
	body        BLOB,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
