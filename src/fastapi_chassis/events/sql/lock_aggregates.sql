-- Take the transaction-level advisory lock of each aggregate, in the order
-- given (sorted by the caller, so concurrent callers cannot deadlock). The
-- key is hashtextextended('<aggregate type>:<aggregate id>', 0): raw SQL that
-- writes events can take the same lock.
SELECT count(pg_advisory_xact_lock(hashtextextended(aggregate_locks.lock_key, 0)))
FROM unnest(cast(:keys AS text[])) WITH ORDINALITY AS aggregate_locks (lock_key, ordinal)
