-- Test calls: a campaign's call placed to the signed-in person's browser phone instead of a
-- contact (voxlancer/campaign_test_calls.py owns the table; the dialer claims the rows as it
-- does caller-ID verification calls). `phone_number` is the number the call stands for: the
-- opt-out key lists it on the customer's do-not-call list, as a contact's call would.
CREATE TABLE test_calls (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id  uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    campaign_id  uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    endpoint     text NOT NULL,
    phone_number text NOT NULL,
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'calling', 'answered', 'failed')),
    result       text,
    opted_out    boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    ended_at     timestamptz
);
-- The dialer's claim reads the pending rows; the API's limit reads an account's recent ones.
CREATE INDEX test_calls_pending ON test_calls (created_at) WHERE status = 'pending';
CREATE INDEX test_calls_customer ON test_calls (customer_id, created_at);
