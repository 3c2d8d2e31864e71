-- Give dead letters a fresh set of attempts; the relay takes them at once.
-- The last error stays, for the record, until the next attempt replaces it.
UPDATE chassis_outbox
SET
    dead_at = NULL,
    attempts = 0,
    leased_until = NULL,
    lease_token = NULL
WHERE
    dead_at IS NOT NULL
    AND published_at IS NULL
    AND (cast(:every AS boolean) OR id = any(cast(:ids AS uuid[])))
RETURNING id
