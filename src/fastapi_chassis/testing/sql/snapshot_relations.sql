-- Schema snapshot: tables, partitioned tables, views, materialized views,
-- sequences and foreign tables, with their kind; Alembic's version table is
-- left out.
SELECT format('%s %I.%I', c.relkind, n.nspname, c.relname)
FROM pg_class AS c
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
WHERE
    n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_'
    AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    AND c.relname <> :version_table
