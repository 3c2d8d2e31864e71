-- audit.resume_auditing(tables): audit the tables again before the end of the
-- transaction that paused them; recorded in the log like the pause.
CREATE OR REPLACE FUNCTION audit.resume_auditing(tables regclass[])
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    audit_transaction_id bigint := pg_current_xact_id()::text::bigint;
    resumed regclass;
BEGIN
    FOREACH resumed IN ARRAY coalesce(tables, ARRAY[]::regclass[]) LOOP
        DELETE FROM audit.pauses
        WHERE transaction_id = audit_transaction_id AND table_oid = resumed;
        IF FOUND THEN
            INSERT INTO audit.log (
                id, occurred_at, table_name, action,
                actor, correlation_id, transaction_id, db_user
            )
            SELECT
                public.chassis_uuid7(),
                statement_timestamp(),
                n.nspname || '.' || c.relname,
                'RESUME',
                nullif(current_setting('chassis.actor', true), ''),
                nullif(current_setting('chassis.correlation_id', true), ''),
                audit_transaction_id,
                session_user
            FROM pg_class AS c
            INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
            WHERE c.oid = resumed;
        END IF;
    END LOOP;
END;
$function$
