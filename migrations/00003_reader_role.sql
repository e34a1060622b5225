-- The reporting role defender_reader: USAGE on the schema, SELECT on every
-- view and documented table, EXECUTE on every documented function, and
-- nothing on the storage tables behind the views. BI tools and analysts log
-- in as a member: GRANT defender_reader TO grafana;
--
-- Roles belong to the whole PostgreSQL cluster, not to one database: the
-- role is created when the migrating user may create roles and is missing;
-- otherwise the migration says what an administrator should run.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION defender.grant_reader_access() RETURNS void
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
COMMENT ON FUNCTION defender.grant_reader_access() IS
    'Internal: grants defender_reader what it may read (USAGE on the schema, SELECT on the views, sync_runs and scan_agent_history, EXECUTE on the documented functions), creating the role when allowed. Migrations call it after creating objects; an administrator may call it after creating the role by hand.';

SELECT defender.grant_reader_access();

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    -- The role stays: it belongs to the cluster, and other databases or
    -- login roles may use it. Only what it holds in this database goes.
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'defender_reader') THEN
        REVOKE ALL ON ALL TABLES IN SCHEMA defender FROM defender_reader;
        REVOKE ALL ON ALL FUNCTIONS IN SCHEMA defender FROM defender_reader;
        REVOKE ALL ON SCHEMA defender FROM defender_reader;
    END IF;
END;
$$;
-- +goose StatementEnd
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA defender TO PUBLIC;
DROP FUNCTION defender.grant_reader_access();
