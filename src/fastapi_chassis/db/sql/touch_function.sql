-- One per table with an updated_at or version column, fired BEFORE UPDATE.
--
-- The housekeeping columns belong to the server: when any other column
-- changes, updated_at moves to now() and version goes up by one; when nothing
-- else changes, both keep their old values, whatever the statement set.
-- Columns are compared one by one (a row constructor), which is much cheaper
-- than turning both rows into jsonb.
CREATE OR REPLACE FUNCTION {function}()
RETURNS trigger
LANGUAGE plpgsql
AS $function$
BEGIN
    IF {row_changed} THEN
{when_changed}
    ELSE
{when_unchanged}
    END IF;
    RETURN NEW;
END;
$function$;
