-- Removes the audit log and its schema: the reverse of install.sql, run by the
-- downgrade of the migration that installed it, once the audit functions and
-- triggers are gone. The owner role stays: roles belong to the whole cluster.
DO $uninstall$
BEGIN
    DROP TABLE IF EXISTS audit.log, audit.pauses;
    DROP SEQUENCE IF EXISTS audit.log_id_seq;
    DROP SCHEMA IF EXISTS audit;
END
$uninstall$
