-- The dashboard: browser sessions (voxlancer/browser_sessions.py owns them) and the
-- notifications that feed live progress streams (voxlancer/progress.py listens).

-- A signed-in browser. Only the SHA-256 of the cookie's token is kept, as with API keys, so a
-- copy of the table signs nobody in. Signing out deletes the row.
CREATE TABLE browser_sessions (
    token_hash   bytea PRIMARY KEY,
    customer_id  uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX browser_sessions_customer ON browser_sessions (customer_id);
CREATE INDEX browser_sessions_expiry ON browser_sessions (expires_at);

-- A signed-out session must stop working in every API process at once, not when its cached
-- principal ages out (voxlancer/auth_cache.py).
CREATE TRIGGER browser_sessions_principal_changed AFTER DELETE ON browser_sessions
    FOR EACH ROW EXECUTE FUNCTION principal_changed();

-- Live progress: `NOTIFY voxlancer_progress, '<customer id> <campaign id>'` whenever a
-- campaign's counters (campaign_stats, kept by the contacts triggers) or its row (status)
-- change, whoever changes them: the dialer's settle batches, the API, operators in psql.
-- Statement-level, and PostgreSQL folds identical notifications of one transaction into one,
-- so a settle batch of a hundred calls on one campaign sends one notification.
CREATE FUNCTION progress_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'campaigns' THEN
        PERFORM pg_notify('voxlancer_progress', n.customer_id::text || ' ' || n.id::text)
        FROM (SELECT DISTINCT customer_id, id FROM changed_rows) AS n;
    ELSE
        PERFORM pg_notify('voxlancer_progress', c.customer_id::text || ' ' || c.id::text)
        FROM campaigns c
        WHERE c.id IN (SELECT campaign_id FROM changed_rows);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER campaign_stats_progress AFTER UPDATE ON campaign_stats
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT
    EXECUTE FUNCTION progress_changed();
CREATE TRIGGER campaigns_progress_update AFTER UPDATE ON campaigns
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT
    EXECUTE FUNCTION progress_changed();
CREATE TRIGGER campaigns_progress_insert AFTER INSERT ON campaigns
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT
    EXECUTE FUNCTION progress_changed();
