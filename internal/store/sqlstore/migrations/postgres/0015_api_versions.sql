-- 0015_api_versions keeps every OpenAPI document an API has had, for its
-- changelog (PostgreSQL). Triggers write it in the transaction that
-- creates the API or changes its document, so no code path can forget it;
-- the APIs already stored start their history with their current
-- document.
CREATE TABLE api_versions (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    api_name   text COLLATE "C" NOT NULL
        CONSTRAINT api_versions_api_fk REFERENCES apis (name) ON DELETE CASCADE,
    version    text NOT NULL,
    title      text NOT NULL,
    document   bytea,
    created_at timestamptz NOT NULL
);

CREATE INDEX api_versions_api ON api_versions (api_name, id);

INSERT INTO api_versions (api_name, version, title, document, created_at)
    SELECT name, version, title, document, updated_at FROM apis ORDER BY name;

CREATE FUNCTION api_versions_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO api_versions (api_name, version, title, document, created_at)
        VALUES (NEW.name, NEW.version, NEW.title, NEW.document, NEW.updated_at);
    RETURN NULL;
END
$$;

CREATE TRIGGER api_versions_on_create AFTER INSERT ON apis
    FOR EACH ROW EXECUTE FUNCTION api_versions_record();

CREATE TRIGGER api_versions_on_change AFTER UPDATE OF document ON apis
    FOR EACH ROW WHEN (NEW.document IS DISTINCT FROM OLD.document) EXECUTE FUNCTION api_versions_record();
