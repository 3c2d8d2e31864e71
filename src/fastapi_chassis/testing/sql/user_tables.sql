-- The tables whose contents committed_db restores: ordinary and partitioned
-- tables outside the system schemas, partitions by their parent.
SELECT
    c.oid::bigint AS oid,
    format('%I.%I', n.nspname, c.relname) AS qualified_name
FROM pg_class AS c
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
WHERE
    c.relkind IN ('r', 'p')
    AND NOT c.relispartition
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_'
ORDER BY qualified_name
