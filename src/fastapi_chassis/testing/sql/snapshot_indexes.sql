-- Schema snapshot: indexes by definition.
SELECT pg_get_indexdef(i.indexrelid)
FROM pg_index AS i
INNER JOIN pg_class AS c ON i.indrelid = c.oid
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
WHERE
    n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_'
    AND c.relname <> :version_table
