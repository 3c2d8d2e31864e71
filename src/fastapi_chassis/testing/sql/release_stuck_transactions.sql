-- Ends the transactions that other connections left idle in this database:
-- the test that opened them is over, and their locks would block the cleanup.
SELECT pg_terminate_backend(pid)
FROM pg_stat_activity
WHERE
    datname = current_database()
    AND pid <> pg_backend_pid()
    AND state LIKE 'idle in transaction%'
