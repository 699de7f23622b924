-- Webhooks (issue 14): the customer's endpoints, the event outbox, and one delivery per
-- (endpoint, event) with every attempt recorded. voxlancer/webhook_events.py owns
-- webhook_events; voxlancer/webhooks.py owns the endpoints, deliveries and attempts.

-- The balance below which a charge sends balance.low (NULL: never). Set through
-- PUT /api/billing/low-balance-threshold (voxlancer/billing.py writes it).
ALTER TABLE customers ADD COLUMN low_balance_threshold numeric(14, 4)
    CHECK (low_balance_threshold >= 0);

CREATE TABLE webhook_endpoints (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id           uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    url                   text NOT NULL,
    description           text NOT NULL DEFAULT '',
    -- Empty: every event type.
    event_types           text[] NOT NULL DEFAULT '{}',
    enabled               boolean NOT NULL DEFAULT true,
    -- Why it is disabled: 'customer' (PATCH enabled=false) or 'failing' (3 days of failures).
    disabled_reason       text CHECK (disabled_reason IN ('customer', 'failing')),
    -- Kept in the clear: the worker must sign with it (docs/webhooks.md says why).
    secret                text NOT NULL,
    -- After a rotation the old secret signs alongside the new one until it expires.
    previous_secret       text,
    previous_expires_at   timestamptz,
    -- The first failed attempt since the last success; NULL while deliveries succeed.
    failing_since         timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CHECK (enabled = (disabled_reason IS NULL))
);
CREATE INDEX webhook_endpoints_customer ON webhook_endpoints (customer_id, created_at);

-- The outbox: written in the transaction of the change it reports. `endpoint_id` is set for
-- an event meant for one endpoint only (ping). The delivery worker fans events out into
-- deliveries and sets fanned_out.
CREATE TABLE webhook_events (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id   uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    type          text NOT NULL,
    api_version   text NOT NULL,
    data          jsonb NOT NULL,
    endpoint_id   uuid REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    fanned_out    boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX webhook_events_unfanned ON webhook_events (created_at) WHERE NOT fanned_out;
CREATE INDEX webhook_events_customer ON webhook_events (customer_id, created_at DESC, id DESC);
CREATE INDEX webhook_events_age ON webhook_events (created_at);

CREATE TABLE webhook_deliveries (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    endpoint_id       uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id          uuid NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    customer_id       uuid NOT NULL,
    event_type        text NOT NULL,
    -- pending: to be sent (again) at next_attempt_at; succeeded; failed: retries gave up.
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    -- A worker holds a pending delivery while it sends it; another may take it once the lease
    -- runs out (the worker died), which sends the same event again: at least once.
    lease_owner       text,
    lease_expires_at  timestamptz,
    last_status_code  integer,
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    delivered_at      timestamptz,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);

CREATE TABLE webhook_attempts (
    id              bigserial PRIMARY KEY,
    delivery_id     uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    worker          text NOT NULL,
    started_at      timestamptz NOT NULL,
    latency_ms      integer NOT NULL CHECK (latency_ms >= 0),
    succeeded       boolean NOT NULL,
    status_code     integer,
    -- The first bytes of the response body (or the reason no response came).
    response_body   text NOT NULL DEFAULT '',
    error           text
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

-- An event's object is written as the API returns it (voxlancer/api/jsonout.py): times in UTC
-- to the second with a Z, money as a decimal string ("0", "0.02", "0.0042").
CREATE FUNCTION api_time(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;
CREATE FUNCTION api_money(m numeric) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN m = 0 THEN '0'
                WHEN m = round(m, 2) THEN round(m, 2)::text
                ELSE trim_scale(round(m, 4))::text END
$$;
