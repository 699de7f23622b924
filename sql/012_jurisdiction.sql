-- Compliance by jurisdiction (issue 18): a campaign's purpose and consent requirement, consent
-- evidence on contacts, why the dialer held a contact back or skipped it, and the operator's
-- do-not-call list.

ALTER TABLE campaigns
    ADD COLUMN purpose          text NOT NULL DEFAULT 'informational'
                                CHECK (purpose IN ('informational', 'telemarketing')),
    ADD COLUMN require_consent  boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT campaigns_telemarketing_needs_consent
        CHECK (purpose <> 'telemarketing' OR require_consent);

-- consent_at/consent_source: the customer's evidence that the person agreed to be called (a
-- form URL, "patient intake"...). deferred_by: the rule that last held a pending contact back
-- (cleared when it is leased). skip_reason: why the dialer will never call a skipped contact.
ALTER TABLE contacts
    ADD COLUMN consent_at      timestamptz,
    ADD COLUMN consent_source  text CHECK (length(consent_source) BETWEEN 1 AND 500),
    ADD COLUMN deferred_by     text,
    ADD COLUMN skip_reason     text,
    ADD CONSTRAINT contacts_consent_has_source
        CHECK ((consent_at IS NULL) = (consent_source IS NULL));

ALTER TABLE contacts DROP CONSTRAINT contacts_status_check;
ALTER TABLE contacts ADD CONSTRAINT contacts_status_check
    CHECK (status IN ('pending', 'queued', 'called', 'failed', 'no_answer', 'opted_out',
                      'skipped'));

-- Stats read the held-back contacts of a campaign by rule from this index only.
CREATE INDEX contacts_held_back ON contacts (campaign_id, deferred_by)
    WHERE status = 'pending' AND deferred_by IS NOT NULL;

ALTER TABLE campaign_stats ADD COLUMN skipped bigint NOT NULL DEFAULT 0;

-- As in 002, with the skipped counter.
CREATE OR REPLACE FUNCTION contacts_count() RETURNS trigger LANGUAGE plpgsql AS $$
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
            skipped = s.skipped + d.skipped,
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
                   coalesce(sum(sign) FILTER (WHERE status = 'skipped'), 0) AS skipped,
                   sum(sign * duration_seconds) AS total_duration_seconds,
                   sum(sign * cost) AS total_cost
            FROM (%s) AS changed (sign, campaign_id, status, duration_seconds, cost)
            GROUP BY campaign_id
        ) AS d
        WHERE s.campaign_id = d.campaign_id
          -- An update that moved no counter (say, attempts + 1) takes no lock on the row.
          AND (d.total_contacts, d.pending, d.queued, d.called, d.failed, d.no_answer,
               d.opted_out, d.skipped, d.total_duration_seconds, d.total_cost)
              IS DISTINCT FROM (0, 0, 0, 0, 0, 0, 0, 0, 0, 0::numeric)
    $sql$, changed);
    RETURN NULL;
END $$;

-- The operator's do-not-call list (e.g. the national registry's extract for the area codes
-- served): 10-digit NANP numbers, checked at dial time for every customer. An import builds
-- a new table and swaps it in (voxlancer/operator_dnc.py); no key, so a file's repeats cost
-- nothing to load.
CREATE TABLE operator_dnc (number bigint NOT NULL);
CREATE INDEX operator_dnc_number ON operator_dnc (number);

CREATE TABLE operator_dnc_loads (
    id         bigserial PRIMARY KEY,
    loaded_at  timestamptz NOT NULL DEFAULT now(),
    source     text NOT NULL,
    numbers    bigint NOT NULL,
    skipped    bigint NOT NULL,
    seconds    numeric(10, 3) NOT NULL
);
