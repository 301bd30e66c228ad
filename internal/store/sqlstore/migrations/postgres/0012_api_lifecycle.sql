-- 0012_api_lifecycle adds each API's deprecation and sunset dates and
-- successor (store.APILifecycle) as one JSON document, like
-- upstream_options, so lifecycle fields added later need no migration.

ALTER TABLE apis ADD COLUMN lifecycle text NOT NULL DEFAULT '{}';
