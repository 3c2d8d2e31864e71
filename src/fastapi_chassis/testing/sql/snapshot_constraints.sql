-- Schema snapshot: constraints by name and definition.
SELECT
    format(
        '%I.%I %I %s',
        n.nspname,
        c.relname,
        con.conname,
        pg_get_constraintdef(con.oid)
    )
FROM pg_constraint AS con
INNER JOIN pg_class AS c ON con.conrelid = c.oid
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
WHERE
    n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_'
    AND c.relname <> :version_table
