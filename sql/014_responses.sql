-- Key-press responses (issue 13, item 3) and the settings of a transfer to a person (item 4,
-- which voxlancer/dialer/transfer.py reads). Each field's limits are checked by the API too
-- (voxlancer/campaign_checks.py); these checks keep any other writer honest.
ALTER TABLE campaigns
    -- {"1": {"label": "confirmed"}, "0": {"label": "front_desk", "transfer_to": "+1..."},
    --  "*": {"repeat": true}}; {} = no responses: the call ends after the message.
    ADD COLUMN responses                  jsonb NOT NULL DEFAULT '{}'
                                          CHECK (jsonb_typeof(responses) = 'object'),
    -- Spoken after the message and replayed once on silence or an unknown key; null: the
    -- message itself is replayed.
    ADD COLUMN response_prompt            text
                                          CHECK (length(response_prompt) BETWEEN 1 AND 3000),
    ADD COLUMN response_timeout_seconds   integer NOT NULL DEFAULT 5
                                          CHECK (response_timeout_seconds BETWEEN 1 AND 30),
    ADD COLUMN transfer_ring_seconds      integer NOT NULL DEFAULT 20
                                          CHECK (transfer_ring_seconds BETWEEN 5 AND 60),
    ADD COLUMN transfer_hold_message      text NOT NULL
                                          DEFAULT 'Please hold while we connect you.'
                                          CHECK (length(transfer_hold_message) BETWEEN 1 AND 3000),
    ADD COLUMN transfer_fallback_message  text NOT NULL
                                          DEFAULT 'Sorry, nobody is available to take your call. Goodbye.'
                                          CHECK (length(transfer_fallback_message)
                                                 BETWEEN 1 AND 3000);

-- The response of a call, written when the key is pressed (not at settlement, which leaves
-- these columns alone), so a dialer killed after the key loses none. A contact keeps its
-- latest call's response.
ALTER TABLE call_attempts
    ADD COLUMN response_key    text,
    ADD COLUMN response_label  text,
    ADD COLUMN responded_at    timestamptz,
    ADD CONSTRAINT call_attempts_response_whole
        CHECK ((response_key IS NULL) = (responded_at IS NULL)
               AND (response_label IS NULL OR response_key IS NOT NULL));
ALTER TABLE contacts
    ADD COLUMN response_key    text,
    ADD COLUMN response_label  text,
    ADD COLUMN responded_at    timestamptz,
    ADD CONSTRAINT contacts_response_whole
        CHECK ((response_key IS NULL) = (responded_at IS NULL)
               AND (response_label IS NULL OR response_key IS NOT NULL));

-- The contacts list filtered by response, and the stats' count per label, read this index.
CREATE INDEX contacts_response_page ON contacts (campaign_id, response_label, created_at DESC,
                                                 id DESC)
    WHERE response_label IS NOT NULL;

-- A response as the API shows it, on a call and a contact: {"key", "label", "at"}, or null.
CREATE FUNCTION api_response(key text, label text, at timestamptz) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN key IS NULL THEN NULL
                ELSE jsonb_build_object('key', key, 'label', label, 'at', api_time(at)) END
$$;

-- As in 013, with the call's response ({"key", "label", "at"} or null).
CREATE OR REPLACE FUNCTION api_call(a call_attempts) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', a.id, 'campaign_id', a.campaign_id, 'contact_id', a.contact_id,
        'phone_number', a.phone_number, 'caller_id', a.caller_id, 'outcome', a.outcome,
        'created_at', api_time(a.created_at), 'answered_at', api_time(a.answered_at),
        'ended_at', api_time(a.ended_at), 'duration_seconds', a.duration_seconds,
        'billed_seconds', a.billed_seconds, 'cost', api_money(a.cost), 'sip_code', a.sip_code,
        'hangup_cause', a.hangup_cause, 'amd_status', a.amd_status,
        'opted_out', a.opted_out_at IS NOT NULL,
        'response', api_response(a.response_key, a.response_label, a.responded_at))
$$;
