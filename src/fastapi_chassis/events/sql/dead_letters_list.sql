-- Dead letters, oldest first, with how many events of their aggregate wait
-- behind each.
SELECT
    dead.id,
    dead.sequence,
    dead.aggregatetype,
    dead.aggregateid,
    dead.type,
    dead.attempts,
    dead.dead_at,
    dead.last_error,
    (
        SELECT count(*)
        FROM chassis_outbox AS waiting
        WHERE
            waiting.published_at IS NULL
            AND waiting.aggregatetype = dead.aggregatetype
            AND waiting.aggregateid = dead.aggregateid
            AND waiting.sequence > dead.sequence
    ) AS blocked
FROM chassis_outbox AS dead
WHERE
    dead.dead_at IS NOT NULL
    AND dead.published_at IS NULL
ORDER BY dead.sequence
LIMIT :limit
