-- Loading a million contacts (issue 16). Measured on 2 cores with 128 MB of shared buffers, a
-- 1,000,000-row INSERT ... SELECT into contacts spent its time in two places:
--   * random UUIDs put every row at a random leaf of the four indexes that end in `id`
--     (primary key, contacts_page, contacts_status_page, contacts_dialable): 1.2 million
--     buffers read and written back for a table of 1 million rows;
--   * the foreign key to campaigns, checked once per row (5 to 12 s for the million).
-- Ids become time-ordered (UUIDv7: still a UUID, still a string in the API), so an upload's
-- rows go to the right-hand leaves only; and the campaign is checked once per statement.

-- A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits, version 7 and the
-- RFC variant. PostgreSQL 18 has uuidv7(); this works on the older servers we support.
CREATE FUNCTION uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp())
                                                     * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;

ALTER TABLE contacts ALTER COLUMN id SET DEFAULT uuid_v7();

-- The foreign key contacts.campaign_id -> campaigns(id) ON DELETE CASCADE, kept by
-- statement-level triggers: one check per INSERT statement instead of one per row. The check
-- locks the campaigns FOR KEY SHARE, as the foreign key's own check did, so a campaign cannot
-- be deleted while a transaction adding contacts to it is open.
ALTER TABLE contacts DROP CONSTRAINT contacts_campaign_id_fkey;

CREATE FUNCTION contacts_campaign_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wanted uuid[];
    missing uuid;
BEGIN
    SELECT array_agg(DISTINCT campaign_id) INTO wanted FROM new_contacts;
    PERFORM 1 FROM campaigns WHERE id = ANY(wanted) ORDER BY id FOR KEY SHARE;
    SELECT w INTO missing FROM unnest(wanted) AS w
    WHERE NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = w) LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'insert or update on table "contacts" violates foreign key constraint '
                      '"contacts_campaign_id_fkey"',
            DETAIL = format('Key (campaign_id)=(%s) is not present in table "campaigns".',
                            missing),
            CONSTRAINT = 'contacts_campaign_id_fkey', TABLE = 'contacts';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER contacts_campaign_check AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS new_contacts FOR EACH STATEMENT
    EXECUTE FUNCTION contacts_campaign_check();

-- A contact never moves to another campaign; only a statement naming the column pays for this.
CREATE FUNCTION contacts_campaign_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.campaign_id IS DISTINCT FROM OLD.campaign_id THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'a contact cannot move to another campaign',
            CONSTRAINT = 'contacts_campaign_id_fkey', TABLE = 'contacts';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER contacts_campaign_fixed BEFORE UPDATE OF campaign_id ON contacts
    FOR EACH ROW EXECUTE FUNCTION contacts_campaign_fixed();

-- ON DELETE CASCADE, and TRUNCATE of campaigns (which the foreign key refused without CASCADE).
CREATE FUNCTION campaigns_delete_contacts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM contacts WHERE campaign_id IN (SELECT id FROM old_campaigns);
    RETURN NULL;
END $$;

CREATE TRIGGER campaigns_delete_contacts AFTER DELETE ON campaigns
    REFERENCING OLD TABLE AS old_campaigns FOR EACH STATEMENT
    EXECUTE FUNCTION campaigns_delete_contacts();

CREATE FUNCTION campaigns_truncate_contacts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE contacts;
    RETURN NULL;
END $$;

CREATE TRIGGER campaigns_truncate_contacts AFTER TRUNCATE ON campaigns
    FOR EACH STATEMENT EXECUTE FUNCTION campaigns_truncate_contacts();
