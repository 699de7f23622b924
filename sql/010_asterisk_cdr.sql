-- Asterisk's own call detail records, one row per channel, written by Asterisk's cdr_pgsql
-- (asterisk-config/cdr_pgsql.conf) when the channel hangs up. Asterisk is the only writer;
-- the dialer reads them (voxlancer/dialer/cdr.py) to bill a call whose end no dialer saw.
--
-- cdr_pgsql fills each column named after a CDR field and leaves the others to their default.
-- start, answer and "end" are float8 so that it writes epoch seconds with microseconds: into a
-- timestamp column it would write whole seconds in Asterisk's local time. answer is 0 for a
-- call never answered. uniqueid is the channel id, which the dialer sets to the attempt id.
CREATE TABLE asterisk_cdr (
    id bigserial PRIMARY KEY,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    start float8,
    answer float8,
    "end" float8,
    duration float8,
    billsec float8,
    disposition text,
    uniqueid text,
    linkedid text,
    channel text,
    dstchannel text,
    clid text,
    src text,
    dst text,
    dcontext text,
    lastapp text,
    lastdata text,
    amaflags text,
    accountcode text,
    peeraccount text,
    userfield text,
    sequence integer
);
CREATE INDEX asterisk_cdr_uniqueid ON asterisk_cdr (uniqueid);
CREATE INDEX asterisk_cdr_recorded_at ON asterisk_cdr (recorded_at);
