-- Give up on dead letters: they leave the pending set unpublished, which
-- unblocks the events of their aggregates. dead_at and last_error stay.
UPDATE chassis_outbox
SET
    published_at = now(),
    skipped_at = now(),
    leased_until = NULL,
    lease_token = NULL
WHERE
    dead_at IS NOT NULL
    AND published_at IS NULL
    AND (cast(:every AS boolean) OR id = any(cast(:ids AS uuid[])))
RETURNING id
