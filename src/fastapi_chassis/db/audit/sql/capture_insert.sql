-- The statement of an audited table's INSERT trigger: one row per inserted row,
-- with the new row (capture_function.sql wraps it in its function).
--
-- The settings and clocks are read in the statement, not into variables first:
-- for a single row that is cheaper, and for many rows it costs little.
-- txid_current() returns pg_current_xact_id() as a bigint, without the two
-- casts through text; PostgreSQL calls it deprecated, and has it from 14 to 18.
-- id_prefix, a plpgsql variable, cannot be table-qualified, and the log names
-- its column "action" as the audit vocabulary does.
-- noqa: disable=RF02,RF03,RF04
INSERT INTO audit.log (
    id, occurred_at, table_name, record_id, action, new_data,
    actor, correlation_id, transaction_id, db_user
)
SELECT
    (
        id_prefix || lpad(to_hex(nextval('audit.log_id_seq') & 281474976710655), 12, '0')
    )::uuid AS id,
    statement_timestamp() AS occurred_at,
    {table_label} AS table_name,
    {new_record_id} AS record_id,
    'INSERT' AS action,
    {new_image} AS new_data,
    nullif(current_setting('chassis.actor', TRUE), '') AS actor,
    nullif(current_setting('chassis.correlation_id', TRUE), '') AS correlation_id,
    txid_current() AS transaction_id,
    session_user AS db_user
FROM chassis_new AS n;
