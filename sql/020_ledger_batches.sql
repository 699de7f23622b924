-- The dialer charges a batch of ended calls in one statement (voxlancer/ledger.py,
-- charge_calls): several rows of one customer and one balance update for them all, instead of
-- a balance update per row. Each row must still continue its customer's chain at once; that the
-- balance equals the customer's latest row is checked at commit instead, for every customer a
-- row was written for (as customers_balance_from_ledger already checks every balance change).
CREATE OR REPLACE FUNCTION transactions_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    previous  numeric;
BEGIN
    -- Sees the rows an earlier part of the same statement wrote (a batch of one customer).
    SELECT balance_after INTO previous FROM transactions
    WHERE customer_id = NEW.customer_id ORDER BY seq DESC LIMIT 1;
    IF NEW.balance_after <> coalesce(previous, 0) + NEW.amount THEN
        RAISE EXCEPTION 'ledger row does not continue the balance of customer %', NEW.customer_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION transactions_balance_matches() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    latest   numeric;
    current  numeric;
BEGIN
    SELECT balance INTO current FROM customers WHERE id = NEW.customer_id;
    SELECT balance_after INTO latest FROM transactions
    WHERE customer_id = NEW.customer_id ORDER BY seq DESC LIMIT 1;
    IF current IS DISTINCT FROM latest THEN
        RAISE EXCEPTION 'ledger row of customer % without its balance change', NEW.customer_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER transactions_balance_matches
    AFTER INSERT ON transactions DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION transactions_balance_matches();
