-- Billing: the append-only ledger, Stripe webhook events and per-account spending limits.

-- Operator overrides of VOXLANCER_DAILY_SPEND_LIMIT and VOXLANCER_MIN_BALANCE; NULL = the setting.
ALTER TABLE customers
    ADD COLUMN daily_spend_limit  numeric(14, 4) CHECK (daily_spend_limit >= 0),
    ADD COLUMN min_balance        numeric(14, 4) CHECK (min_balance >= 0);

-- Every change of a balance is one row here (voxlancer/ledger.py is the only writer).
-- Amounts are signed: credits positive, call charges and refunds negative, adjustments either,
-- so the sum of a customer's rows is their balance.
CREATE TABLE transactions (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Insertion order per customer (rows for one customer are written under its row lock):
    -- the newest-first listing, its cursor, and "the previous row" for the checks below.
    seq            bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    customer_id    uuid NOT NULL REFERENCES customers (id),
    type           text NOT NULL
                   CHECK (type IN ('credit_added', 'call_charge', 'refund', 'adjustment')),
    amount         numeric(14, 4) NOT NULL,
    balance_after  numeric(14, 4) NOT NULL CHECK (balance_after >= 0),
    description    text NOT NULL,
    -- Stripe payment intent id (credits), call id (call charges), Stripe event id (refunds,
    -- disputes); NULL for operator credits.
    reference      text,
    -- Call charges only. seconds are the billed seconds (after the increment); cost is what the
    -- call cost at the rate, which is more than -amount when the balance ran out.
    call_id        text,
    campaign_id    uuid,
    seconds        integer CHECK (seconds > 0),
    cost           numeric(14, 4) CHECK (cost >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT transactions_sign CHECK (CASE type
        WHEN 'credit_added' THEN amount > 0
        WHEN 'call_charge' THEN amount <= 0 AND -amount <= cost
        WHEN 'refund' THEN amount <= 0
        ELSE true END),
    CONSTRAINT transactions_call_charge CHECK (type <> 'call_charge' OR (
        call_id IS NOT NULL AND reference = call_id AND seconds IS NOT NULL AND cost IS NOT NULL))
);
-- One credit per Stripe payment, one charge per call: retries find the existing row.
CREATE UNIQUE INDEX transactions_reference ON transactions (type, reference)
    WHERE reference IS NOT NULL;
CREATE INDEX transactions_customer ON transactions (customer_id, seq DESC);
-- Daily spend and usage read only call charges, by time.
CREATE INDEX transactions_call_charges ON transactions (customer_id, created_at)
    WHERE type = 'call_charge';

-- The ledger is append-only: a mistake is corrected by an adjustment row, never by an edit.
CREATE FUNCTION transactions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on transactions is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER transactions_no_update BEFORE UPDATE OR DELETE ON transactions
    FOR EACH ROW EXECUTE FUNCTION transactions_append_only();
CREATE TRIGGER transactions_no_truncate BEFORE TRUNCATE ON transactions
    FOR EACH STATEMENT EXECUTE FUNCTION transactions_append_only();

-- A new row must continue its customer's chain: balance_after = previous balance_after + amount,
-- and equal the balance the same transaction has just written to customers.
CREATE FUNCTION transactions_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    previous  numeric;
    current   numeric;
BEGIN
    SELECT balance_after INTO previous FROM transactions
    WHERE customer_id = NEW.customer_id ORDER BY seq DESC LIMIT 1;
    SELECT balance INTO current FROM customers WHERE id = NEW.customer_id;
    IF NEW.balance_after <> coalesce(previous, 0) + NEW.amount
       OR NEW.balance_after IS DISTINCT FROM current THEN
        RAISE EXCEPTION 'ledger row does not continue the balance of customer %', NEW.customer_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER transactions_chain BEFORE INSERT ON transactions
    FOR EACH ROW EXECUTE FUNCTION transactions_chain();

-- ...and the balance moves only with a ledger row: checked at commit, so that the balance update
-- and its row may come in either order within the transaction.
CREATE FUNCTION customers_balance_from_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    latest   numeric;
    current  numeric;
BEGIN
    SELECT balance INTO current FROM customers WHERE id = NEW.id;
    IF current IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT balance_after INTO latest FROM transactions
    WHERE customer_id = NEW.id ORDER BY seq DESC LIMIT 1;
    IF current <> coalesce(latest, 0) THEN
        RAISE EXCEPTION 'the balance of customer % changed without a ledger row', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER customers_balance_from_ledger
    AFTER INSERT OR UPDATE OF balance ON customers DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION customers_balance_from_ledger();

-- Stripe webhook events already handled: a replayed event is acknowledged and ignored.
CREATE TABLE stripe_events (
    id           text PRIMARY KEY,
    type         text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
