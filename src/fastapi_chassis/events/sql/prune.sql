-- Delete one batch of old outbox rows.
--
-- The primary key is a UUIDv7, which starts with its creation time, so the
-- range id < :before_id walks the primary key index over old rows only and no
-- extra index is needed. A row goes once it was published (or skipped) before
-- :cutoff; with :unpublished (a CDC pipeline reads the table, nothing marks
-- rows published), also once it was created before :cutoff.
WITH doomed AS (
    SELECT id
    FROM chassis_outbox
    WHERE
        id < :before_id
        AND (
            published_at < :cutoff
            OR (
                cast(:unpublished AS boolean)
                AND published_at IS NULL
                AND created_at < :cutoff
            )
        )
    ORDER BY id
    LIMIT :batch_size
)

DELETE FROM chassis_outbox AS outbox
USING doomed
WHERE outbox.id = doomed.id
