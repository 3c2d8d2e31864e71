-- Schema snapshot: enums (with their labels), domains, ranges and composite
-- types made with CREATE TYPE (not the row types of tables).
SELECT
    format('%I.%I %s', n.nspname, t.typname, t.typtype)
    || coalesce(
        ' ' || (
            SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
            FROM pg_enum AS e
            WHERE e.enumtypid = t.oid
        ),
        ''
    )
FROM pg_type AS t
INNER JOIN pg_namespace AS n ON t.typnamespace = n.oid
WHERE
    n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_'
    AND (
        t.typtype IN ('e', 'd', 'r')
        OR (
            t.typtype = 'c'
            AND EXISTS (
                SELECT 1 FROM pg_class AS r
                WHERE r.oid = t.typrelid AND r.relkind = 'c'
            )
        )
    )
