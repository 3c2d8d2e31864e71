-- Schema snapshot: triggers by definition (internal ones, which implement
-- foreign keys, are covered by the constraints).
SELECT pg_get_triggerdef(t.oid)
FROM pg_trigger AS t
INNER JOIN pg_class AS c ON t.tgrelid = c.oid
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
WHERE
    n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_'
    AND NOT t.tgisinternal
