-- audit.record_truncate(): the TRUNCATE trigger of every audited table.
--
-- TRUNCATE has no transition tables and removes rows wholesale: it is recorded
-- as one TRUNCATE row for the table, without row images.
CREATE OR REPLACE FUNCTION audit.record_truncate()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    audit_transaction_id bigint := pg_current_xact_id()::text::bigint;
BEGIN
    IF current_setting('chassis.audit_paused', true) = audit_transaction_id::text THEN
        IF EXISTS (
            SELECT FROM audit.pauses AS p
            WHERE p.transaction_id = audit_transaction_id AND p.table_oid = TG_RELID
        ) THEN
            RETURN NULL;
        END IF;
    END IF;
    INSERT INTO audit.log (
        id, occurred_at, table_name, action, actor, correlation_id, transaction_id, db_user
    )
    VALUES (
        public.chassis_uuid7(),
        statement_timestamp(),
        TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME,
        'TRUNCATE',
        nullif(current_setting('chassis.actor', true), ''),
        nullif(current_setting('chassis.correlation_id', true), ''),
        audit_transaction_id,
        session_user
    );
    RETURN NULL;
END;
$function$
