-- The leases of tenants and of maintenance tasks, and the reporting grants
-- told in two steps.
--
-- The lease of a tenant: which sync holds it, and until when. A sync takes
-- it, renews it while it runs and gives it back, each in a short
-- transaction of its own, so that it holds through a transaction pooler
-- (PgBouncer, the poolers of managed services), where a session's advisory
-- lock would be taken on one server connection and released on another.
-- A holder that dies stops renewing: its lease expires. Only the owner of
-- the schema writes it; no reader and no other login can hold a tenant.
--
-- One row per tenant beside defender.tenants rather than columns of it:
-- the tenant's row is rewritten only by a sync that succeeds, and taking
-- and giving back a lease happens at every sync, failed or not. Observation
-- retention, which one process at a time does, takes a lease of the same
-- kind in defender.maintenance_leases.

-- The notice of a migration whose user may not create roles said what an
-- administrator should run as one long list of grants, cut in logs and
-- refused to an administrator who does not own the objects. It now names
-- the two steps: the administrator creates the role, the owner grants
-- (00003 says the same on a new database; a database migrated before gets
-- the function anew here, and the notice once, when the role is missing).

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender.grant_reader_access() RETURNS void
    LANGUAGE plpgsql
AS $$
DECLARE
    statements text[];
    statement  text;
BEGIN
    -- Functions are executable by PUBLIC by default; the reporting
    -- surface is the role's, and internal functions are nobody's.
    FOR statement IN
        SELECT pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', p.oid::pg_catalog.regprocedure)
          FROM pg_catalog.pg_proc p
         WHERE p.pronamespace = 'defender'::pg_catalog.regnamespace
    LOOP
        EXECUTE statement;
    END LOOP;

    SELECT pg_catalog.array_agg(s ORDER BY s) INTO statements FROM (
        SELECT 'GRANT USAGE ON SCHEMA defender TO defender_reader' AS s
        UNION ALL
        -- Views, and the tables documented as part of the reporting surface.
        SELECT pg_catalog.format('GRANT SELECT ON %s TO defender_reader', c.oid::pg_catalog.regclass)
          FROM pg_catalog.pg_class c
         WHERE c.relnamespace = 'defender'::pg_catalog.regnamespace
           AND (c.relkind IN ('v', 'm')
                OR (c.relkind IN ('r', 'p') AND c.relname IN ('sync_runs', 'scan_agent_history')))
        UNION ALL
        -- Every function but the internal ones (their comment says so).
        SELECT pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO defender_reader', p.oid::pg_catalog.regprocedure)
          FROM pg_catalog.pg_proc p
         WHERE p.pronamespace = 'defender'::pg_catalog.regnamespace
           AND coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '') NOT LIKE 'Internal%'
    ) grants;

    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'defender_reader') THEN
        IF EXISTS (SELECT FROM pg_catalog.pg_roles
                    WHERE rolname = current_user AND (rolcreaterole OR rolsuper)) THEN
            CREATE ROLE defender_reader NOLOGIN;
            COMMENT ON ROLE defender_reader IS
                'Reads the agentsync reporting views and functions of schema defender, nothing else. Grant it to the login roles of BI tools and analysts: GRANT defender_reader TO grafana;';
        ELSE
            -- Short, whole and in order: an administrator creates the
            -- role, then the owner (only it may grant on its objects)
            -- grants. agentsync migrate grants prints the same.
            RAISE NOTICE USING MESSAGE =
                'agentsync: role defender_reader does not exist and ' || current_user || ' may not create roles; the reporting grants were skipped',
                HINT = 'Step 1, an administrator allowed to create roles runs: CREATE ROLE defender_reader NOLOGIN; ' ||
                       'step 2, ' || current_user || ' runs in database ' || pg_catalog.quote_ident(pg_catalog.current_database()) ||
                       ': SELECT defender.grant_reader_access(); (agentsync migrate grants prints both)';
            RETURN;
        END IF;
    END IF;
    FOREACH statement IN ARRAY statements LOOP
        EXECUTE statement;
    END LOOP;
END;
$$;
-- +goose StatementEnd
SELECT defender.grant_reader_access();

CREATE TABLE defender.tenant_leases (
    tenant_id  text        PRIMARY KEY REFERENCES defender.tenants,
    holder     text        NOT NULL CHECK (holder <> ''),
    taken_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    expires_at timestamptz NOT NULL
);
COMMENT ON TABLE defender.tenant_leases IS
    'Storage: the sync holding each tenant, until when. Syncs of the tenant by other processes skip it while the lease lasts; a live sync renews it, a stopped one lets it expire.';
COMMENT ON COLUMN defender.tenant_leases.tenant_id IS 'Microsoft Entra tenant (GUID or domain, lower case).';
COMMENT ON COLUMN defender.tenant_leases.holder IS 'The sync holding the tenant: its worker (host:pid) and a token of its own.';
COMMENT ON COLUMN defender.tenant_leases.taken_at IS 'When the holder took the lease (a sync takes it for each resource; renewing keeps this time).';
COMMENT ON COLUMN defender.tenant_leases.expires_at IS 'When the lease ends unless its holder renews it (a live sync renews it well before).';

-- The same for maintenance that one process at a time does (observation
-- retention).
CREATE TABLE defender.maintenance_leases (
    task       text        PRIMARY KEY CHECK (task <> ''),
    holder     text        NOT NULL CHECK (holder <> ''),
    expires_at timestamptz NOT NULL
);
COMMENT ON TABLE defender.maintenance_leases IS
    'Storage: the process doing each maintenance task (observation retention), until when; others leave the task to it while the lease lasts.';
COMMENT ON COLUMN defender.maintenance_leases.task IS 'The maintenance task, for example observation retention.';
COMMENT ON COLUMN defender.maintenance_leases.holder IS 'The process holding the task: host:pid and a token of its own.';
COMMENT ON COLUMN defender.maintenance_leases.expires_at IS 'When the lease ends unless its holder renews it.';

-- +goose Down
DROP TABLE defender.maintenance_leases;
DROP TABLE defender.tenant_leases;
-- The function keeps its two-step notice: it says nothing else, and
-- 00003 gives it the same.
