-- Accounts, API keys and the login throttle.

CREATE TABLE customers (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Stored normalised (trimmed, lower-cased) by the application; unique as stored.
    email               text NOT NULL UNIQUE CHECK (email = lower(email)),
    password_hash       text NOT NULL,
    company_name        text NOT NULL DEFAULT '',
    status              text NOT NULL DEFAULT 'pending_review'
                        CHECK (status IN ('pending_review', 'active', 'suspended')),
    manual_review_flag  boolean NOT NULL DEFAULT true,
    -- Four decimals: per-second call charges are fractions of a cent.
    balance             numeric(14, 4) NOT NULL DEFAULT 0 CHECK (balance >= 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id   uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    name          text NOT NULL,
    -- SHA-256 of the whole key; the key itself is never stored.
    key_hash      bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    key_prefix    text NOT NULL,
    permissions   text[] NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_keys_customer ON api_keys (customer_id, created_at DESC) WHERE revoked_at IS NULL;

-- One row per failed login, keyed by 'email:<address>' and 'ip:<address>'. Rows older than the
-- throttle window are deleted as logins happen, so the table stays small.
CREATE TABLE login_failures (
    key        text NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key ON login_failures (key, failed_at);
