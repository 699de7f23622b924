-- Call results (issue 13, item 6): the call object, defined once. GET /api/campaigns/{id}/calls
-- lists it and the webhook call.completed event carries it; both call this function, so the two
-- cannot differ. Times and money as api_time/api_money (011) write them. An attempt in progress
-- has no outcome, end or duration yet (null); call.completed is written once it has them.
CREATE FUNCTION api_call(a call_attempts) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', a.id, 'campaign_id', a.campaign_id, 'contact_id', a.contact_id,
        'phone_number', a.phone_number, 'caller_id', a.caller_id, 'outcome', a.outcome,
        'created_at', api_time(a.created_at), 'answered_at', api_time(a.answered_at),
        'ended_at', api_time(a.ended_at), 'duration_seconds', a.duration_seconds,
        'billed_seconds', a.billed_seconds, 'cost', api_money(a.cost), 'sip_code', a.sip_code,
        'hangup_cause', a.hangup_cause, 'amd_status', a.amd_status,
        'opted_out', a.opted_out_at IS NOT NULL)
$$;
