-- Caller IDs, campaigns, their contacts, and per-campaign counters kept by triggers.

CREATE TABLE caller_ids (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id   uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    phone_number  text NOT NULL CHECK (phone_number ~ '^\+[1-9][0-9]{5,15}$'),
    verified      boolean NOT NULL DEFAULT false,
    verified_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (customer_id, phone_number),
    -- Target of the campaigns' composite key, so a campaign can only use its owner's numbers.
    UNIQUE (id, customer_id)
);
CREATE INDEX caller_ids_page ON caller_ids (customer_id, created_at DESC, id DESC);

CREATE TABLE campaigns (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id          uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    name                 text NOT NULL,
    -- stopped is final and chosen by the customer; completed means no contact was left to call.
    status               text NOT NULL DEFAULT 'draft'
                         CHECK (status IN ('draft', 'running', 'paused', 'completed', 'stopped')),
    tts_message          text NOT NULL CHECK (length(tts_message) BETWEEN 1 AND 3000),
    tts_voice            text NOT NULL,
    caller_id            uuid,
    tcpa_consent         boolean NOT NULL DEFAULT false,
    schedule_start       timestamptz,
    schedule_end         timestamptz,
    calling_hours_start  time NOT NULL DEFAULT '09:00',
    calling_hours_end    time NOT NULL DEFAULT '21:00',
    timezone             text NOT NULL DEFAULT 'America/New_York',
    max_concurrent       integer NOT NULL DEFAULT 5 CHECK (max_concurrent >= 1),
    max_attempts         integer NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 10),
    retry_delay_minutes  integer NOT NULL DEFAULT 30
                         CHECK (retry_delay_minutes BETWEEN 1 AND 1440),
    -- Why the dialer paused it (no credit, daily limit...); null when the customer paused it.
    pause_reason         text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    started_at           timestamptz,
    finished_at          timestamptz,
    CHECK (schedule_end IS NULL OR schedule_start IS NULL OR schedule_end > schedule_start),
    CHECK (calling_hours_end > calling_hours_start),
    -- Deleting a caller ID empties the field of the (non-running) campaigns that named it.
    FOREIGN KEY (caller_id, customer_id) REFERENCES caller_ids (id, customer_id)
        ON DELETE SET NULL (caller_id)
);
CREATE INDEX campaigns_page ON campaigns (customer_id, created_at DESC, id DESC);
CREATE INDEX campaigns_caller_id ON campaigns (caller_id) WHERE caller_id IS NOT NULL;
CREATE INDEX campaigns_running ON campaigns (id) WHERE status = 'running';

CREATE TABLE contacts (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id       uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    phone_number      text NOT NULL,
    -- queued: leased by the dialer and being called; called: answered.
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'queued', 'called', 'failed', 'no_answer',
                                        'opted_out')),
    -- The extra CSV columns, for personalising the message later.
    attributes        jsonb NOT NULL DEFAULT '{}',
    attempts          integer NOT NULL DEFAULT 0,
    last_attempt_at   timestamptz,
    next_attempt_at   timestamptz,
    last_result       text,
    duration_seconds  integer NOT NULL DEFAULT 0 CHECK (duration_seconds >= 0),
    cost              numeric(14, 4) NOT NULL DEFAULT 0 CHECK (cost >= 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, phone_number)
);
CREATE INDEX contacts_page ON contacts (campaign_id, created_at DESC, id DESC);
CREATE INDEX contacts_status_page ON contacts (campaign_id, status, created_at DESC, id DESC);

-- One row per campaign, changed in the same transaction as the contacts it counts, so the
-- stats endpoint reads one row instead of counting a million.
CREATE TABLE campaign_stats (
    campaign_id             uuid PRIMARY KEY REFERENCES campaigns (id) ON DELETE CASCADE,
    total_contacts          bigint NOT NULL DEFAULT 0,
    pending                 bigint NOT NULL DEFAULT 0,
    queued                  bigint NOT NULL DEFAULT 0,
    called                  bigint NOT NULL DEFAULT 0,
    failed                  bigint NOT NULL DEFAULT 0,
    no_answer               bigint NOT NULL DEFAULT 0,
    opted_out               bigint NOT NULL DEFAULT 0,
    total_duration_seconds  bigint NOT NULL DEFAULT 0,
    total_cost              numeric(16, 4) NOT NULL DEFAULT 0
);

CREATE FUNCTION campaign_stats_create() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_stats (campaign_id) SELECT id FROM new_campaigns;
    RETURN NULL;
END $$;

CREATE TRIGGER campaign_stats_create AFTER INSERT ON campaigns
    REFERENCING NEW TABLE AS new_campaigns FOR EACH STATEMENT
    EXECUTE FUNCTION campaign_stats_create();

-- Statement-level: a million-row INSERT ... SELECT costs one aggregate, and every writer of
-- contacts (API, dialer, operators in psql) keeps the counters right without knowing of them.
-- The changed rows come in as (sign, row): +1 for new versions, -1 for old ones.
CREATE FUNCTION contacts_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed text;
BEGIN
    changed := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT 1, %1$s FROM new_contacts'
        WHEN 'DELETE' THEN 'SELECT -1, %1$s FROM old_contacts'
        ELSE 'SELECT 1, %1$s FROM new_contacts UNION ALL SELECT -1, %1$s FROM old_contacts'
    END;
    changed := format(changed, 'campaign_id, status, duration_seconds, cost');
    EXECUTE format($sql$
        UPDATE campaign_stats s SET
            total_contacts = s.total_contacts + d.total_contacts,
            pending = s.pending + d.pending,
            queued = s.queued + d.queued,
            called = s.called + d.called,
            failed = s.failed + d.failed,
            no_answer = s.no_answer + d.no_answer,
            opted_out = s.opted_out + d.opted_out,
            total_duration_seconds = s.total_duration_seconds + d.total_duration_seconds,
            total_cost = s.total_cost + d.total_cost
        FROM (
            SELECT campaign_id,
                   sum(sign) AS total_contacts,
                   coalesce(sum(sign) FILTER (WHERE status = 'pending'), 0) AS pending,
                   coalesce(sum(sign) FILTER (WHERE status = 'queued'), 0) AS queued,
                   coalesce(sum(sign) FILTER (WHERE status = 'called'), 0) AS called,
                   coalesce(sum(sign) FILTER (WHERE status = 'failed'), 0) AS failed,
                   coalesce(sum(sign) FILTER (WHERE status = 'no_answer'), 0) AS no_answer,
                   coalesce(sum(sign) FILTER (WHERE status = 'opted_out'), 0) AS opted_out,
                   sum(sign * duration_seconds) AS total_duration_seconds,
                   sum(sign * cost) AS total_cost
            FROM (%s) AS changed (sign, campaign_id, status, duration_seconds, cost)
            GROUP BY campaign_id
        ) AS d
        WHERE s.campaign_id = d.campaign_id
          -- An update that moved no counter (say, attempts + 1) takes no lock on the row.
          AND (d.total_contacts, d.pending, d.queued, d.called, d.failed, d.no_answer,
               d.opted_out, d.total_duration_seconds, d.total_cost)
              IS DISTINCT FROM (0, 0, 0, 0, 0, 0, 0, 0, 0::numeric)
    $sql$, changed);
    RETURN NULL;
END $$;

CREATE TRIGGER contacts_count_insert AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS new_contacts FOR EACH STATEMENT
    EXECUTE FUNCTION contacts_count();
CREATE TRIGGER contacts_count_update AFTER UPDATE ON contacts
    REFERENCING OLD TABLE AS old_contacts NEW TABLE AS new_contacts FOR EACH STATEMENT
    EXECUTE FUNCTION contacts_count();
CREATE TRIGGER contacts_count_delete AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS old_contacts FOR EACH STATEMENT
    EXECUTE FUNCTION contacts_count();

-- Cached principals (voxlancer/auth_cache.py) are dropped by every API process when the
-- customer's status or balance changes or one of their keys is revoked, whoever changes it.
CREATE FUNCTION principal_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Two statements: plpgsql resolves OLD's fields only in the branch that runs.
    IF TG_TABLE_NAME = 'customers' THEN
        PERFORM pg_notify('voxlancer_principals', OLD.id::text);
    ELSE
        PERFORM pg_notify('voxlancer_principals', OLD.customer_id::text);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER customers_principal_changed
    AFTER UPDATE OF status, balance, email, company_name, manual_review_flag OR DELETE
    ON customers FOR EACH ROW EXECUTE FUNCTION principal_changed();
CREATE TRIGGER api_keys_principal_changed
    AFTER UPDATE OF revoked_at, permissions OR DELETE
    ON api_keys FOR EACH ROW EXECUTE FUNCTION principal_changed();
