-- Compliance: the do-not-call list, the campaigns' opt-out and answering-machine settings,
-- and caller-ID verification by a call that reads a code.

-- A customer's do-not-call list. Entries are evidence of an opt-out and are kept at least five
-- years (47 CFR 64.1200(d)(6)): no cascade from customers, so an account with a list cannot be
-- deleted by accident; the customer may delete only the entries they added themselves.
CREATE TABLE dnc_entries (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id   uuid NOT NULL REFERENCES customers (id),
    phone_number  text NOT NULL CHECK (phone_number ~ '^\+[1-9][0-9]{5,15}$'),
    source        text NOT NULL CHECK (source IN ('key_press', 'api', 'import')),
    -- The campaign whose call the key was pressed in; no foreign key, the entry outlives it.
    campaign_id   uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (customer_id, phone_number)
);
CREATE INDEX dnc_entries_page ON dnc_entries (customer_id, created_at DESC, id DESC);

ALTER TABLE campaigns
    ADD COLUMN opt_out_key        text NOT NULL DEFAULT '9' CHECK (opt_out_key ~ '^[0-9*#]$'),
    ADD COLUMN machine_detection  text NOT NULL DEFAULT 'off'
                                  CHECK (machine_detection IN ('off', 'hangup', 'voicemail')),
    -- Null: a voicemail drop plays the main message.
    ADD COLUMN voicemail_message  text CHECK (length(voicemail_message) BETWEEN 1 AND 3000),
    -- Required for a voicemail drop; checked by the API at create, update and start (not here,
    -- so a start can say which field is missing rather than an operator's UPDATE failing).
    ADD COLUMN callback_number    text CHECK (callback_number ~ '^\+[1-9][0-9]{5,15}$');

-- Answering machines detected (AMD verdict MACHINE); the dialer increments it.
ALTER TABLE campaign_stats ADD COLUMN machine bigint NOT NULL DEFAULT 0;

-- One row per verification call. The code is kept in clear: the dialer must speak it, and it
-- lives ten minutes and five tries.
CREATE TABLE caller_id_verifications (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    caller_id     uuid NOT NULL REFERENCES caller_ids (id) ON DELETE CASCADE,
    customer_id   uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    phone_number  text NOT NULL,
    code          text NOT NULL CHECK (code ~ '^[0-9]{6}$'),
    -- pending_call -> calling (a dialer claimed it) -> called | failed;
    -- open ones become confirmed (right code) or expired (superseded by a new start).
    status        text NOT NULL DEFAULT 'pending_call'
                  CHECK (status IN ('pending_call', 'calling', 'called', 'failed', 'confirmed',
                                    'expired')),
    tries_left    integer NOT NULL DEFAULT 5 CHECK (tries_left >= 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL DEFAULT now() + interval '10 minutes',
    called_at     timestamptz,
    call_result   text
);
CREATE INDEX caller_id_verifications_latest ON caller_id_verifications (caller_id, created_at);
-- The daily limit counts calls to a number whichever account asked for them.
CREATE INDEX caller_id_verifications_number ON caller_id_verifications (phone_number, created_at);
CREATE INDEX caller_id_verifications_account
    ON caller_id_verifications (customer_id, created_at);
CREATE INDEX caller_id_verifications_due ON caller_id_verifications (created_at)
    WHERE status = 'pending_call';
