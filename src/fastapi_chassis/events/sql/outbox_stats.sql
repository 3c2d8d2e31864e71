-- What the gauges and `chassis events status` show.
SELECT
    count(*) AS pending,
    count(*) FILTER (WHERE dead_at IS NOT NULL) AS dead_letters,
    coalesce(extract(EPOCH FROM now() - min(created_at)), 0) AS lag_seconds
FROM chassis_outbox
WHERE published_at IS NULL
