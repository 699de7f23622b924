-- The dialer: contact leases, one row per call attempt, and dialer heartbeats.

-- A queued contact belongs to the dialer named in lease_owner until lease_expires_at; the dialer
-- renews the lease while the call lasts, and a sweep settles contacts whose lease ran out.
ALTER TABLE contacts
    ADD COLUMN lease_owner       text,
    ADD COLUMN lease_expires_at  timestamptz;

-- What the lease statement scans: pending contacts of one campaign, due first.
CREATE INDEX contacts_dialable ON contacts (campaign_id, next_attempt_at NULLS FIRST, id)
    WHERE status = 'pending';
CREATE INDEX contacts_leased ON contacts (lease_expires_at) WHERE status = 'queued';

-- Every call placed, kept for billing disputes and compliance even after its campaign or
-- contact is deleted (hence no foreign keys to them). The id is also the ARI channel id.
CREATE TABLE call_attempts (
    id                 uuid PRIMARY KEY,
    customer_id        uuid NOT NULL REFERENCES customers (id),
    campaign_id        uuid NOT NULL,
    contact_id         uuid NOT NULL,
    phone_number       text NOT NULL,
    caller_id          text NOT NULL,
    dialer_id          text NOT NULL,
    asterisk_node      text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    answered_at        timestamptz,
    ended_at           timestamptz,
    outcome            text CHECK (outcome IN ('answered', 'no_answer', 'busy', 'failed')),
    hangup_cause       integer,
    hangup_cause_text  text,
    sip_code           integer,
    duration_seconds   numeric(10, 3) CHECK (duration_seconds >= 0),
    billed_seconds     integer NOT NULL DEFAULT 0,
    cost               numeric(14, 4) NOT NULL DEFAULT 0 CHECK (cost >= 0),
    CHECK (ended_at IS NULL OR outcome IS NOT NULL)
);
CREATE INDEX call_attempts_open ON call_attempts (dialer_id) WHERE ended_at IS NULL;
CREATE INDEX call_attempts_contact ON call_attempts (contact_id, created_at);
CREATE INDEX call_attempts_campaign ON call_attempts (campaign_id, created_at);

-- Each dialer says every few seconds that it is alive and whether its ARI link is up;
-- GET /api/health reads this.
CREATE TABLE dialer_heartbeats (
    dialer_id      text PRIMARY KEY,
    ari_url        text NOT NULL,
    ari_connected  boolean NOT NULL,
    active_calls   integer NOT NULL,
    seen_at        timestamptz NOT NULL DEFAULT now()
);
