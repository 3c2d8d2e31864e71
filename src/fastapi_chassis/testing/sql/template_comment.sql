-- The comment of a template database, which holds its fingerprint.
SELECT shobj_description(oid, 'pg_database')
FROM pg_database
WHERE datname = :name
