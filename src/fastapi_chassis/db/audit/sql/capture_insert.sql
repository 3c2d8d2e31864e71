-- The statement of an audited table's INSERT trigger: one row per inserted row,
-- with the new row (capture_function.sql wraps it in its function).
-- plpgsql variables (audit_actor, id_prefix, ...) cannot be table-qualified, and
-- the log names its column "action" as the audit vocabulary does.
-- noqa: disable=RF02,RF03,RF04
INSERT INTO audit.log (
    id, occurred_at, table_name, record_id, action, new_data,
    actor, correlation_id, transaction_id, db_user
)
SELECT
    (
        id_prefix || lpad(to_hex(nextval('audit.log_id_seq') & 281474976710655), 12, '0')
    )::uuid AS id,
    audit_time AS occurred_at,
    {table_label} AS table_name,
    {new_record_id} AS record_id,
    'INSERT' AS action,
    {new_image} AS new_data,
    audit_actor AS actor,
    audit_correlation_id AS correlation_id,
    audit_transaction_id AS transaction_id,
    audit_db_user AS db_user
FROM chassis_new AS n;
