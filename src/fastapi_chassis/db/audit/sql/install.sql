-- Everything audited tables write to, created once per database: the owner
-- role (cluster-wide), the audit schema, the partitioned log with its DEFAULT
-- partition and indexes, and the table that records paused transactions.
--
-- Idempotent: it creates only what is missing. The owner role is created
-- when the installing role may create roles; a role that is not a superuser
-- is made a member of the owner so that it can hand objects over to it.
-- Version-specific statements run through EXECUTE, so the block parses on
-- every server from 14 to 18.
DO $install$
DECLARE
    installer_is_superuser boolean;
    can_act_as_owner boolean;
BEGIN
    SELECT rolsuper INTO installer_is_superuser FROM pg_roles WHERE rolname = current_user;

    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{owner}') THEN
        BEGIN
            CREATE ROLE {owner} NOLOGIN;
        EXCEPTION
            WHEN duplicate_object THEN
                NULL;  -- created meanwhile by a concurrent installation
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'the audit owner role {owner} does not exist and % may not create it',
                    current_user
                    USING HINT = format(
                        'As a superuser: CREATE ROLE {owner} NOLOGIN; GRANT {owner} TO %I;', current_user
                    );
        END;
    END IF;

    IF NOT installer_is_superuser THEN
        -- From PostgreSQL 16 on, handing an object over needs the SET option.
        IF current_setting('server_version_num')::integer >= 160000 THEN
            can_act_as_owner := pg_has_role(current_user, '{owner}', 'USAGE')
                AND pg_has_role(current_user, '{owner}', 'SET');
        ELSE
            can_act_as_owner := pg_has_role(current_user, '{owner}', 'USAGE');
        END IF;
        IF NOT can_act_as_owner THEN
            BEGIN
                IF current_setting('server_version_num')::integer >= 160000 THEN
                    EXECUTE 'GRANT {owner} TO CURRENT_USER WITH INHERIT TRUE, SET TRUE';
                ELSE
                    EXECUTE 'GRANT {owner} TO CURRENT_USER';
                END IF;
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE EXCEPTION '% must be a member of the audit owner role {owner}', current_user
                    USING HINT = format('As a superuser: GRANT {owner} TO %I;', current_user);
            END;
        END IF;
    END IF;

    CREATE SCHEMA IF NOT EXISTS audit AUTHORIZATION {owner};

    -- The primary key must contain the partition key. Text columns that are
    -- compared in indexes use the C collation: byte order, no locale lookups.
    CREATE TABLE IF NOT EXISTS audit.log (
        id uuid NOT NULL,
        occurred_at timestamptz NOT NULL,
        table_name text COLLATE "C" NOT NULL,
        record_id text COLLATE "C",
        action text COLLATE "C" NOT NULL,
        old_data jsonb,
        new_data jsonb,
        changed_fields text[],
        actor text,
        correlation_id text,
        transaction_id bigint NOT NULL,
        db_user text NOT NULL,
        -- No CHECK on action: only the audit functions write here, and a check
        -- constraint is re-read from the catalog by every statement that does.
        CONSTRAINT pk_audit_log PRIMARY KEY (occurred_at, id)
    ) PARTITION BY RANGE (occurred_at);

    -- No write may fail for want of a monthly partition.
    CREATE TABLE IF NOT EXISTS audit.log_default PARTITION OF audit.log DEFAULT;

    -- The history of one record (a record has few rows: they are sorted after).
    CREATE INDEX IF NOT EXISTS ix_audit_log_record
    ON audit.log (table_name, record_id);
    -- Everything one transaction did: ids grow with time, as rows are appended.
    CREATE INDEX IF NOT EXISTS ix_audit_log_transaction
    ON audit.log USING brin (transaction_id) WITH (pages_per_range = 16);
    CREATE INDEX IF NOT EXISTS ix_audit_log_occurred_at
    ON audit.log USING brin (occurred_at);

    -- The counter in the ids' random bits; each session caches a range of it.
    CREATE SEQUENCE IF NOT EXISTS audit.log_id_seq AS bigint CACHE 1000;

    -- Transactions in which a privileged role paused auditing, per table.
    CREATE TABLE IF NOT EXISTS audit.pauses (
        transaction_id bigint NOT NULL,
        table_oid oid NOT NULL,
        CONSTRAINT pk_audit_pauses PRIMARY KEY (transaction_id, table_oid)
    );

    IF (SELECT relowner FROM pg_class WHERE oid = 'audit.log'::regclass)
        <> (SELECT oid FROM pg_roles WHERE rolname = '{owner}') THEN
        ALTER TABLE audit.log OWNER TO {owner};
        ALTER TABLE audit.log_default OWNER TO {owner};
    END IF;
    IF (SELECT relowner FROM pg_class WHERE oid = 'audit.pauses'::regclass)
        <> (SELECT oid FROM pg_roles WHERE rolname = '{owner}') THEN
        ALTER TABLE audit.pauses OWNER TO {owner};
    END IF;
    IF (SELECT relowner FROM pg_class WHERE oid = 'audit.log_id_seq'::regclass)
        <> (SELECT oid FROM pg_roles WHERE rolname = '{owner}') THEN
        ALTER SEQUENCE audit.log_id_seq OWNER TO {owner};
    END IF;
    REVOKE ALL ON audit.log, audit.log_default, audit.pauses, audit.log_id_seq FROM PUBLIC;
END
$install$
