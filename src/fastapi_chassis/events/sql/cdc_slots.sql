-- Every logical replication slot, with how far it is behind the current WAL
-- position (what it has not confirmed) and how much WAL it keeps on disk.
-- A standby has no current WAL position of its own: use what it received.
WITH position AS (
    SELECT
        CASE
            WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()
            ELSE pg_current_wal_lsn()
        END AS lsn
)

SELECT
    slots.slot_name,
    slots.plugin,
    slots.active,
    pg_wal_lsn_diff(position.lsn, slots.confirmed_flush_lsn) AS lag_bytes,
    pg_wal_lsn_diff(position.lsn, slots.restart_lsn) AS retained_bytes
FROM pg_replication_slots AS slots
CROSS JOIN position
WHERE slots.slot_type = 'logical'
ORDER BY slots.slot_name
