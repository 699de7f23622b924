-- Transfer to a person (issue 13, item 4): the second leg of a call, recorded on its attempt.
-- transfer_to and transfer_started_at are written when the transfer starts and
-- transfer_answered_at when the person answers (voxlancer/dialer/store.py), so that a dialer
-- taking over after a crash follows and bills the leg; the rest when the call is settled.
-- The leg's charge is its own ledger row, reference '<attempt id>-transfer' (one per leg: the
-- unique index on transactions (type, reference) makes a second settlement find the first).
ALTER TABLE call_attempts
    ADD COLUMN transfer_to              text,
    ADD COLUMN transfer_status          text
        CHECK (transfer_status IN ('answered', 'no_answer', 'busy', 'failed')),
    ADD COLUMN transfer_started_at      timestamptz,
    ADD COLUMN transfer_answered_at     timestamptz,
    ADD COLUMN transfer_ended_at        timestamptz,
    ADD COLUMN transfer_billed_seconds  integer CHECK (transfer_billed_seconds >= 0),
    ADD COLUMN transfer_cost            numeric(14, 4) CHECK (transfer_cost >= 0),
    ADD CONSTRAINT call_attempts_transfer CHECK (
        (transfer_to IS NULL) = (transfer_started_at IS NULL)
        AND (transfer_status IS NULL OR transfer_to IS NOT NULL));

-- The call object (sql/013, with 014's response) gains `transfer`: null for a call that was not
-- transferred.
CREATE OR REPLACE FUNCTION api_transfer(a call_attempts) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN a.transfer_to IS NULL THEN NULL ELSE jsonb_build_object(
        'to', a.transfer_to, 'status', a.transfer_status,
        'started_at', api_time(a.transfer_started_at),
        'answered_at', api_time(a.transfer_answered_at),
        'ended_at', api_time(a.transfer_ended_at),
        'billed_seconds', a.transfer_billed_seconds, 'cost', api_money(a.transfer_cost)) END
$$;

CREATE OR REPLACE FUNCTION api_call(a call_attempts) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', a.id, 'campaign_id', a.campaign_id, 'contact_id', a.contact_id,
        'phone_number', a.phone_number, 'caller_id', a.caller_id, 'outcome', a.outcome,
        'created_at', api_time(a.created_at), 'answered_at', api_time(a.answered_at),
        'ended_at', api_time(a.ended_at), 'duration_seconds', a.duration_seconds,
        'billed_seconds', a.billed_seconds, 'cost', api_money(a.cost), 'sip_code', a.sip_code,
        'hangup_cause', a.hangup_cause, 'amd_status', a.amd_status,
        'opted_out', a.opted_out_at IS NOT NULL,
        'response', api_response(a.response_key, a.response_label, a.responded_at),
        'transfer', api_transfer(a))
$$;
