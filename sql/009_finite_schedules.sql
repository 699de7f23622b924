-- Campaign schedules a client sent at the edge of the calendar (issue 12): year 1 was stored as
-- -infinity (year 9999 as infinity), which Python cannot read back, so the campaign and the
-- account's campaign list answered 500 for good. The API now refuses instants outside
-- [0001-01-02, 9999-12-30] UTC; the rows already stored lose the schedule they could never
-- have used, and the database refuses such values from now on.
UPDATE campaigns SET schedule_start = NULL, updated_at = now()
WHERE schedule_start IS NOT NULL
  AND NOT (schedule_start BETWEEN '0001-01-02 00:00:00+00' AND '9999-12-30 00:00:00+00');

UPDATE campaigns SET schedule_end = NULL, updated_at = now()
WHERE schedule_end IS NOT NULL
  AND NOT (schedule_end BETWEEN '0001-01-02 00:00:00+00' AND '9999-12-30 00:00:00+00');

ALTER TABLE campaigns ADD CONSTRAINT campaigns_schedule_in_range CHECK (
    (schedule_start IS NULL
     OR schedule_start BETWEEN '0001-01-02 00:00:00+00' AND '9999-12-30 00:00:00+00')
    AND (schedule_end IS NULL
         OR schedule_end BETWEEN '0001-01-02 00:00:00+00' AND '9999-12-30 00:00:00+00'));
