-- Schema snapshot: functions and procedures by signature and a hash of their
-- definition (aggregates by signature only: they have no such definition).
SELECT
    format(
        '%I.%I(%s) %s',
        n.nspname,
        p.proname,
        pg_get_function_identity_arguments(p.oid),
        CASE WHEN p.prokind = 'a' THEN 'aggregate' ELSE md5(pg_get_functiondef(p.oid)) END
    )
FROM pg_proc AS p
INNER JOIN pg_namespace AS n ON p.pronamespace = n.oid
WHERE
    n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_'
