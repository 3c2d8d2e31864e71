-- chassis_outbox_notify(): wakes the outbox relays when events are committed.
--
-- Fired once per INSERT statement on the outbox table. PostgreSQL delivers a
-- notification only when the inserting transaction commits (never for a
-- rollback) and folds identical notifications of one transaction into one, so
-- a relay wakes once per committed transaction, not once per event. The
-- payload is empty: the relay reads the pending rows, it does not trust
-- notifications to carry work.
CREATE OR REPLACE FUNCTION public.chassis_outbox_notify()
RETURNS trigger
LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM pg_notify('chassis_outbox', '');
    RETURN NULL;
END;
$function$;
