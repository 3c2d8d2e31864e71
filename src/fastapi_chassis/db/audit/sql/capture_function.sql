-- One per audited table and event (INSERT, UPDATE, DELETE): runs the event's
-- statement (capture_insert.sql, capture_update.sql, capture_delete.sql),
-- which writes one audit.log row per changed row.
--
-- Fired once per statement (AFTER ... FOR EACH STATEMENT) with the statement's
-- transition tables, so a statement that changes 100k rows runs one
-- INSERT ... SELECT instead of 100k function calls. Columns are compared one
-- by one (generated per table), which is much cheaper than diffing jsonb. A
-- function per event, rather than one that branches on TG_OP, names only the
-- transition tables its trigger has, so plpgsql_check can verify it.
--
-- A single-row statement pays for what the function sets up on every call:
-- each expression is compiled again by every statement that runs it, and a
-- PL/pgSQL variable is one more expression. So the function has one
-- variable, the part of the ids that is the same for the whole statement, and
-- everything else is computed inside the capture statement.
--
-- Ids are UUIDv7 with the layout of chassis_uuid7(): the 48-bit millisecond
-- timestamp of the statement's start (so an id's time is its occurred_at),
-- version 7, 26 random bits drawn once per statement, and the last 48 bits
-- from the counter audit.log_id_seq (RFC 9562 section 6.2, method 1). The rows
-- of a statement get increasing ids, so the log's primary key index is
-- appended to rather than split all over. They are built here rather than by
-- calling chassis_uuid7(): a nested plpgsql call costs a single-row statement
-- more than the rest of its audit, and a bulk statement would pay it per row.
--
-- SECURITY DEFINER: the function runs as the audit owner, the only role that
-- may write audit.log. SET search_path pins every name and operator it uses
-- (IS DISTINCT FROM and NULLIF find their "=" through the search path, and
-- cannot be schema-qualified) to pg_catalog, so no caller can slip in an
-- object of its own. Saving and restoring the setting costs each call less
-- than the null-safe qualified comparisons that would replace them.
-- Actor and correlation id come from transaction-local settings made by the
-- application's session.
CREATE OR REPLACE FUNCTION {function}()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    id_prefix text := lpad(
        to_hex(floor(extract(EPOCH FROM statement_timestamp()) * 1000)::bigint), 12, '0'
    ) || '7' || substr(gen_random_uuid()::text, 16, 9);
BEGIN
    -- The setting is only a hint that anyone may set; the pause itself is a row
    -- that only audit.pause_auditing() can write. The setting is '' (or absent)
    -- outside a paused transaction, so the common case reads no table.
    IF current_setting('chassis.audit_paused', true) <> '' THEN
        IF EXISTS (
            SELECT FROM audit.pauses AS p
            WHERE p.transaction_id = txid_current() AND p.table_oid = TG_RELID
        ) THEN
            RETURN NULL;
        END IF;
    END IF;

    {statement}
    RETURN NULL;
END;
$function$
