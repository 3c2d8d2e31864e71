-- The statement of an audited table's UPDATE trigger: one row per changed row,
-- with the row after the change, the old values of the changed columns only,
-- and their names. Moving deleted_at from NULL is SOFT_DELETE, back to NULL is
-- RESTORE. A row whose audited columns did not change records nothing, and is
-- filtered out before its images are built.
--
-- Rows are paired by primary key, never by position. A row whose key changed
-- has no partner: it is recorded as deleted under its old key and inserted
-- under its new one. A full join also cannot become a nested loop, so a plan
-- cached while statements changed one row stays fit for one that changes 100k.
--
-- id_prefix, a plpgsql variable, cannot be table-qualified, and the log names
-- its column "action" as the audit vocabulary does.
-- noqa: disable=RF02,RF03,RF04
INSERT INTO audit.log (
    id, occurred_at, table_name, record_id, action, old_data, new_data,
    changed_fields, actor, correlation_id, transaction_id, db_user
)
SELECT
    (
        id_prefix || lpad(to_hex(nextval('audit.log_id_seq') & 281474976710655), 12, '0')
    )::uuid AS id,
    statement_timestamp() AS occurred_at,
    {table_label} AS table_name,
    {record_id} AS record_id,
    CASE
        WHEN {new_missing} THEN 'DELETE'
        WHEN {old_missing} THEN 'INSERT'
        ELSE {update_action}
    END AS action,
    CASE
        WHEN {new_missing} THEN {old_image}
        WHEN {old_missing} THEN NULL
        ELSE {old_values}
    END AS old_data,
    CASE WHEN {new_missing} THEN NULL ELSE {new_image} END AS new_data,
    CASE WHEN {new_missing} OR {old_missing} THEN NULL ELSE {changed_fields} END AS changed_fields,
    nullif(current_setting('chassis.actor', TRUE), '') AS actor,
    nullif(current_setting('chassis.correlation_id', TRUE), '') AS correlation_id,
    txid_current() AS transaction_id,
    session_user AS db_user
FROM chassis_new AS n
FULL JOIN chassis_old AS o ON {pair}
WHERE {new_missing} OR {old_missing} OR {row_changed};
