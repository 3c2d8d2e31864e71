-- audit.create_partitions(months_ahead): monthly partitions of audit.log, from
-- the current month (UTC) to months_ahead months later, plus one for every
-- month that has rows waiting in the DEFAULT partition. Returns the names of
-- the partitions it created; existing ones are left alone.
--
-- Rows written while a month had no partition went to audit.log_default; they
-- are moved into the new partition, which is created detached and attached
-- once filled (PostgreSQL refuses a partition whose rows sit in DEFAULT).
CREATE OR REPLACE FUNCTION audit.create_partitions(months_ahead integer)
RETURNS SETOF text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    this_month constant timestamp := date_trunc('month', now() AT TIME ZONE 'UTC');
    month_start timestamp;
    lower_bound timestamptz;
    upper_bound timestamptz;
    partition_name text;
BEGIN
    IF months_ahead IS NULL OR months_ahead < 0 OR months_ahead > 120 THEN
        RAISE EXCEPTION 'months_ahead must be between 0 and 120, not %', months_ahead
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR month_start IN
        SELECT this_month + make_interval(months => step)
        FROM generate_series(0, months_ahead) AS step
        UNION
        SELECT DISTINCT date_trunc('month', d.occurred_at AT TIME ZONE 'UTC')
        FROM audit.log_default AS d
        ORDER BY 1
    LOOP
        partition_name := 'log_p' || to_char(month_start, 'YYYYMM');
        CONTINUE WHEN to_regclass(format('audit.%I', partition_name)) IS NOT NULL;
        lower_bound := month_start AT TIME ZONE 'UTC';
        upper_bound := (month_start + interval '1 month') AT TIME ZONE 'UTC';
        IF EXISTS (
            SELECT FROM audit.log_default AS d
            WHERE d.occurred_at >= lower_bound AND d.occurred_at < upper_bound
        ) THEN
            -- Writers wait while the month's rows move, so none is left behind.
            LOCK TABLE audit.log_default IN SHARE ROW EXCLUSIVE MODE;
            EXECUTE format(
                'CREATE TABLE audit.%I (LIKE audit.log INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                partition_name
            );
            EXECUTE format(
                'WITH moved AS ('
                'DELETE FROM audit.log_default WHERE occurred_at >= $1 AND occurred_at < $2 '
                'RETURNING *) INSERT INTO audit.%I SELECT * FROM moved',
                partition_name
            ) USING lower_bound, upper_bound;
            EXECUTE format(
                'ALTER TABLE audit.log ATTACH PARTITION audit.%I FOR VALUES FROM (%L) TO (%L)',
                partition_name, lower_bound, upper_bound
            );
        ELSE
            EXECUTE format(
                'CREATE TABLE audit.%I PARTITION OF audit.log FOR VALUES FROM (%L) TO (%L)',
                partition_name, lower_bound, upper_bound
            );
        END IF;
        EXECUTE format('REVOKE ALL ON audit.%I FROM PUBLIC', partition_name);
        RETURN NEXT partition_name;
    END LOOP;
END;
$function$
