-- audit.pause_auditing(tables, reason): stop auditing some tables until the end
-- of the current transaction (or audit.resume_auditing), for a deliberate
-- backfill.
--
-- Only roles allowed to execute it can pause: its EXECUTE right is revoked from
-- PUBLIC, and the pause is a row in audit.pauses, which no application role
-- can write (a setting would not do: any role may change any setting). The
-- pause itself is recorded in the log, with its reason and the database role.
CREATE OR REPLACE FUNCTION audit.pause_auditing(tables regclass[], reason text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    audit_transaction_id bigint := pg_current_xact_id()::text::bigint;
    paused regclass;
BEGIN
    IF tables IS NULL OR cardinality(tables) = 0 THEN
        RAISE EXCEPTION 'name the tables whose auditing to pause'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'a pause needs a reason; it is recorded in the audit log'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Pauses of finished transactions can never apply again.
    DELETE FROM audit.pauses
    WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint;
    FOREACH paused IN ARRAY tables LOOP
        IF NOT EXISTS (
            SELECT FROM pg_trigger
            WHERE tgrelid = paused AND tgname = 'chassis_audit_insert'
        ) THEN
            RAISE EXCEPTION 'table % is not audited', paused
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        INSERT INTO audit.pauses (transaction_id, table_oid)
        VALUES (audit_transaction_id, paused)
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            INSERT INTO audit.log (
                id, occurred_at, table_name, action, new_data,
                actor, correlation_id, transaction_id, db_user
            )
            SELECT
                public.chassis_uuid7(),
                statement_timestamp(),
                n.nspname || '.' || c.relname,
                'PAUSE',
                jsonb_build_object('reason', reason),
                nullif(current_setting('chassis.actor', true), ''),
                nullif(current_setting('chassis.correlation_id', true), ''),
                audit_transaction_id,
                session_user
            FROM pg_class AS c
            INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
            WHERE c.oid = paused;
        END IF;
    END LOOP;
    PERFORM set_config('chassis.audit_paused', audit_transaction_id::text, true);
END;
$function$
