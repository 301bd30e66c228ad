-- 0005_api_upstream_options adds each API's upstream connection and
-- forwarding options (TLS trust, SNI, client certificate, header policy)
-- as one JSON document, so options added later need no migration.

ALTER TABLE apis ADD COLUMN upstream_options text NOT NULL DEFAULT '{}';
