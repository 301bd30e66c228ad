-- 0015_api_versions keeps every OpenAPI document an API has had, for its
-- changelog (SQLite). Triggers write it in the transaction that creates
-- the API or changes its document, so no code path can forget it; the
-- APIs already stored start their history with their current document.
CREATE TABLE api_versions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    api_name   TEXT NOT NULL REFERENCES apis (name) ON DELETE CASCADE,
    version    TEXT NOT NULL,
    title      TEXT NOT NULL,
    document   BLOB,
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX api_versions_api ON api_versions (api_name, id);

INSERT INTO api_versions (api_name, version, title, document, created_at)
    SELECT name, version, title, document, updated_at FROM apis ORDER BY name;

CREATE TRIGGER api_versions_on_create AFTER INSERT ON apis BEGIN
    INSERT INTO api_versions (api_name, version, title, document, created_at)
        VALUES (NEW.name, NEW.version, NEW.title, NEW.document, NEW.updated_at);
END;

CREATE TRIGGER api_versions_on_change AFTER UPDATE OF document ON apis
    WHEN NEW.document IS NOT OLD.document BEGIN
    INSERT INTO api_versions (api_name, version, title, document, created_at)
        VALUES (NEW.name, NEW.version, NEW.title, NEW.document, NEW.updated_at);
END;
