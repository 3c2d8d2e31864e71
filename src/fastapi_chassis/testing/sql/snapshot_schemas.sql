-- Schema snapshot: the schemas (system ones left out).
SELECT n.nspname
FROM pg_namespace AS n
WHERE
    n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_'
