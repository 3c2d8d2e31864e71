-- Settle the failed part of a claim: count the attempt, keep the error, and
-- either hold the row back until its retry time (leased_until, with no lease
-- token) or, after the last attempt, dead-letter it. Either way the row stays
-- pending, so it keeps blocking the rest of its aggregate.
UPDATE chassis_outbox AS outbox
SET
    attempts = outbox.attempts + 1,
    last_error = failure.error,
    lease_token = NULL,
    dead_at = CASE
        WHEN outbox.attempts + 1 >= :max_attempts THEN now()
    END,
    leased_until = CASE
        WHEN outbox.attempts + 1 < :max_attempts
            THEN now() + make_interval(secs => failure.delay)
    END
FROM
    unnest(
        cast(:ids AS uuid[]),
        cast(:errors AS text[]),
        cast(:delays AS float8[])
    ) AS failure (id, error, delay)
WHERE
    outbox.id = failure.id
    AND outbox.lease_token = :token
RETURNING outbox.id, outbox.aggregatetype, outbox.dead_at IS NOT NULL AS dead
