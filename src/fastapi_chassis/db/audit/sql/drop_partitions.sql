-- audit.drop_partitions(older_than): retention. Drops every monthly partition
-- of audit.log whose whole month ended more than older_than ago, and returns
-- their names. Rows are never deleted one by one: a month goes when all of it
-- is old enough. The DEFAULT partition is never dropped (audit.create_partitions
-- moves its rows into monthly partitions first). The prune is recorded.
CREATE OR REPLACE FUNCTION audit.drop_partitions(older_than interval)
RETURNS SETOF text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    cutoff timestamptz;
    partition_name text;
    dropped text[] := ARRAY[]::text[];
BEGIN
    IF older_than IS NULL OR older_than < interval '1 day' THEN
        RAISE EXCEPTION 'older_than must be at least one day, not %', older_than
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    cutoff := now() - older_than;
    FOR partition_name IN
        SELECT c.relname::text
        FROM pg_inherits AS i
        INNER JOIN pg_class AS c ON i.inhrelid = c.oid
        WHERE i.inhparent = 'audit.log'::regclass
            AND length(c.relname) = 11 AND c.relname ~ '^log_p[0-9]+$'
        ORDER BY c.relname
    LOOP
        CONTINUE WHEN
            (to_date(substr(partition_name, 6), 'YYYYMM') + interval '1 month') AT TIME ZONE 'UTC'
            > cutoff;
        EXECUTE format('DROP TABLE audit.%I', partition_name);
        dropped := dropped || partition_name;
        RETURN NEXT partition_name;
    END LOOP;
    IF cardinality(dropped) > 0 THEN
        INSERT INTO audit.log (
            id, occurred_at, table_name, action, new_data,
            actor, correlation_id, transaction_id, db_user
        )
        VALUES (
            public.chassis_uuid7(),
            statement_timestamp(),
            'audit.log',
            'PRUNE',
            jsonb_build_object('partitions', to_jsonb(dropped), 'older_than', older_than::text),
            nullif(current_setting('chassis.actor', true), ''),
            nullif(current_setting('chassis.correlation_id', true), ''),
            pg_current_xact_id()::text::bigint,
            session_user
        );
    END IF;
END;
$function$
