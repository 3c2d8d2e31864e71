-- The statement of an audited table's DELETE trigger: one row per deleted row,
-- with the old row.
--
-- id_prefix, a plpgsql variable, cannot be table-qualified, and the log names
-- its column "action" as the audit vocabulary does.
-- noqa: disable=RF02,RF03,RF04
INSERT INTO audit.log (
    id, occurred_at, table_name, record_id, action, old_data,
    actor, correlation_id, transaction_id, db_user
)
SELECT
    (
        id_prefix || lpad(to_hex(nextval('audit.log_id_seq') & 281474976710655), 12, '0')
    )::uuid AS id,
    statement_timestamp() AS occurred_at,
    {table_label} AS table_name,
    {old_record_id} AS record_id,
    'DELETE' AS action,
    {old_image} AS old_data,
    nullif(current_setting('chassis.actor', TRUE), '') AS actor,
    nullif(current_setting('chassis.correlation_id', TRUE), '') AS correlation_id,
    txid_current() AS transaction_id,
    session_user AS db_user
FROM chassis_old AS o;
