-- The dialer's part of compliance: when a called person opted out during the call, and the
-- index the 30-day per-number call limit reads at dial time.

ALTER TABLE call_attempts
    ADD COLUMN opted_out_at  timestamptz,
    -- Answering machine detection's verdict (HUMAN, MACHINE, NOTSURE, HANGUP) and its reason,
    -- when the campaign asked for detection.
    ADD COLUMN amd_status    text,
    ADD COLUMN amd_cause     text,
    -- When the message (or voicemail drop) began to play.
    ADD COLUMN message_started_at timestamptz;

CREATE INDEX call_attempts_number ON call_attempts (customer_id, phone_number, created_at);

ALTER TABLE call_attempts DROP CONSTRAINT call_attempts_outcome_check;
ALTER TABLE call_attempts ADD CONSTRAINT call_attempts_outcome_check
    CHECK (outcome IN ('answered', 'machine', 'no_answer', 'busy', 'failed'));
