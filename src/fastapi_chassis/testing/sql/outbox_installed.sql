-- Whether the database has the outbox table.
SELECT to_regclass('public.chassis_outbox') IS NOT NULL
