-- The newest pending sequence: run_once publishes up to here and no further,
-- so a steady stream of new events cannot keep it running forever.
SELECT coalesce(max(sequence), 0) AS bound
FROM chassis_outbox
WHERE published_at IS NULL
