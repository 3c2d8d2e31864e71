-- Step 1 of a claim: the next :scan_limit pending rows after :after, oldest
-- first, each marked free when nothing keeps it from being claimed itself (a
-- lease, a retry's back-off, a dead letter).
--
-- Rows are selected by state (pending), never only after a position: the relay
-- starts at :after = 0 again after every claim, so a transaction that took its
-- sequence number early and committed late is found. It moves :after past a
-- window only when nothing in it was claimable. Rows above :bound (the newest
-- pending sequence when run_once started) are left for later.
SELECT
    id,
    sequence,
    aggregatetype || ':' || cast(aggregateid AS text) AS aggregate_key,
    (
        dead_at IS NULL
        AND (leased_until IS NULL OR leased_until < now())
    ) AS free
FROM chassis_outbox
WHERE
    published_at IS NULL
    AND sequence > :after
    AND sequence <= :bound
ORDER BY sequence
LIMIT :scan_limit
