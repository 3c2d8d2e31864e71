-- Give back claimed rows that were not attempted (their aggregate failed
-- earlier in the batch, or the lease was about to run out).
UPDATE chassis_outbox
SET
    lease_token = NULL,
    leased_until = NULL
WHERE
    id = any(cast(:ids AS uuid[]))
    AND lease_token = :token
