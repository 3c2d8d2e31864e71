-- Settle the published part of a claim. Not conditional on the lease: the
-- events did reach the broker, even if the lease ran out meanwhile.
UPDATE chassis_outbox
SET
    published_at = now(),
    lease_token = NULL,
    leased_until = NULL
WHERE
    id = any(cast(:ids AS uuid[]))
    AND published_at IS NULL
