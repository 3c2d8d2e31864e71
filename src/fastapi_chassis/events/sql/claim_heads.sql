-- Step 2 of a claim: lock the heads of the runs to claim.
--
-- A head is the pending row of an aggregate with no earlier pending row,
-- whatever that row's state (leased by another relay, waiting for a retry,
-- dead-lettered). Locking heads FOR UPDATE SKIP LOCKED is what keeps two
-- relays apart: one locks the head, the other skips it, and no later row of
-- that aggregate is a head. The conditions are checked again on the locked
-- row, since the window was read by an earlier statement.
--
-- A window that starts at the oldest pending row (:after = 0) holds each of its
-- aggregates' first pending row; only later windows need the look-back.
SELECT head.id
FROM chassis_outbox AS head
WHERE
    head.id = any(cast(:candidates AS uuid[]))
    AND head.published_at IS NULL
    AND head.dead_at IS NULL
    AND (head.leased_until IS NULL OR head.leased_until < now())
    AND (
        cast(:after AS bigint) = 0
        OR NOT EXISTS (
            SELECT
            FROM chassis_outbox AS earlier
            WHERE
                earlier.published_at IS NULL
                AND earlier.aggregatetype = head.aggregatetype
                AND earlier.aggregateid = head.aggregateid
                AND earlier.sequence < head.sequence
        )
    )
ORDER BY head.sequence
LIMIT :batch_size
FOR UPDATE SKIP LOCKED
