-- Runs after the audit functions are created or replaced.
--
-- A function belongs to whoever created it; the audit functions are SECURITY
-- DEFINER, so they are handed to the owner role, whose rights they run with.
-- Functions are executable by PUBLIC when created: the trigger functions need
-- no grant to fire, and the helpers (pause, partitions) are for the owner and
-- the roles it is granted to, so that default is revoked. Finally the log
-- gets its partitions for this month and the months ahead.
DO $finish$
DECLARE
    audit_function regprocedure;
BEGIN
    FOR audit_function IN
        SELECT p.oid::regprocedure
        FROM pg_proc AS p
        WHERE p.pronamespace = 'audit'::regnamespace
        ORDER BY p.oid
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', audit_function);
        IF (SELECT proowner FROM pg_proc WHERE oid = audit_function)
            <> (SELECT oid FROM pg_roles WHERE rolname = '{owner}') THEN
            EXECUTE format('ALTER FUNCTION %s OWNER TO {owner}', audit_function);
        END IF;
    END LOOP;
    IF to_regprocedure('audit.create_partitions(integer)') IS NOT NULL THEN
        PERFORM audit.create_partitions({months_ahead});
    END IF;
END
$finish$
