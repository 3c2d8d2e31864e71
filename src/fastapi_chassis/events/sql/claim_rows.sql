-- Step 3 of a claim: lease the claimed rows (the locked heads and the rows that
-- follow them in their runs) and read them.
UPDATE chassis_outbox
SET
    lease_token = :token,
    leased_until = now() + make_interval(secs => :lease_seconds)
WHERE
    id = any(cast(:ids AS uuid[]))
    -- A relay whose lease ran out may have published the row meanwhile.
    AND published_at IS NULL
RETURNING
    id,
    sequence,
    aggregatetype,
    aggregateid,
    type,
    cast(payload AS text) AS payload,
    attempts,
    created_at
