-- A sync recorded each run's start in a transaction of its own, of five
-- statements in two round trips: commit without waiting for the WAL
-- flush, raise the session's temp_buffers, renew the tenant's lease, mark
-- failed the runs a stopped process left running, record the run. Each
-- was planned at each execution (the loader's statements are unnamed, so
-- that they work through a transaction pooler): in the hourly syncs of
-- 300 tenants, 0.62 s of planning against 0.46 s of running them. One
-- function does the same in one statement, its plans kept per connection.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION defender_storage.start_run(tenant text, resource text, started timestamptz, worker text,
                                           display_name text, holder text, lease_seconds double precision,
                                           abandoned_error text, temp_buffers text,
                                           OUT new_run_id bigint, OUT abandoned_runs integer)
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
#variable_conflict use_column
BEGIN
    abandoned_runs := 0;
    -- The transaction this call runs in commits without waiting for its
    -- WAL to reach the disk: a run's start lost in a server crash is
    -- harmless (load/bookkeeping.go says why).
    PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
    -- The session's temp_buffers, raised for the sync's work tables
    -- (PostgreSQL lets a session raise it only before its first temporary
    -- table).
    PERFORM pg_catalog.set_config('temp_buffers', start_run.temp_buffers, false)
      WHERE pg_catalog.pg_my_temp_schema() = 0
        AND pg_catalog.pg_size_bytes(pg_catalog.current_setting('temp_buffers'))
            < pg_catalog.pg_size_bytes(start_run.temp_buffers);
    -- The lease, renewed; when it is no longer the holder's, nothing is
    -- recorded and new_run_id is null.
    UPDATE defender_storage.tenant_leases l
       SET expires_at = pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => start_run.lease_seconds)
     WHERE l.tenant_id = start_run.tenant AND l.holder = start_run.holder;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- Under the lease, no live sync of the resource is running: a run
    -- still marked running was left by a process that stopped.
    UPDATE defender_storage.sync_run r
       SET status = 'f', finished_at = greatest(start_run.started, r.started_at), error = start_run.abandoned_error
      FROM defender_storage.tenants t
     WHERE t.tenant_id = start_run.tenant AND r.tenant_no = t.tenant_no
       AND r.resource = defender_storage.run_resource_code(start_run.resource) AND r.status = 'r';
    GET DIAGNOSTICS abandoned_runs = ROW_COUNT;
    -- The tenant's row (created, or given its new display name) and the
    -- worker's, then the run.
    WITH tenant_row AS (
        INSERT INTO defender_storage.tenants AS t (tenant_id, display_name)
        VALUES (start_run.tenant, nullif(start_run.display_name, ''))
        ON CONFLICT (tenant_id) DO UPDATE SET display_name = excluded.display_name
         WHERE excluded.display_name IS NOT NULL AND excluded.display_name IS DISTINCT FROM t.display_name
        RETURNING t.tenant_no
    ), worker_row AS (
        INSERT INTO defender_storage.sync_worker AS w (worker) SELECT start_run.worker WHERE start_run.worker IS NOT NULL
        ON CONFLICT (worker) DO NOTHING
        RETURNING w.worker_no
    )
    INSERT INTO defender_storage.sync_run AS r (tenant_no, resource, started_at, worker_no)
    SELECT coalesce((SELECT x.tenant_no FROM tenant_row x),
                    (SELECT t.tenant_no FROM defender_storage.tenants t WHERE t.tenant_id = start_run.tenant)),
           defender_storage.run_resource_code(start_run.resource), start_run.started,
           coalesce((SELECT x.worker_no FROM worker_row x),
                    (SELECT w.worker_no FROM defender_storage.sync_worker w WHERE w.worker = start_run.worker))
    RETURNING r.run_id INTO new_run_id;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION defender_storage.start_run(text, text, timestamptz, text, text, text, double precision, text, text) IS
    'Internal: records a sync''s run as running, in the transaction of the call, committed without waiting for the WAL flush: renews the tenant''s lease held by holder (new_run_id is null when it is no longer the holder''s), marks failed the runs of the tenant''s resource left running by a process that stopped (abandoned_runs), and records the tenant, the worker and the run. Raises the session''s temp_buffers first.';
REVOKE ALL ON FUNCTION defender_storage.start_run(text, text, timestamptz, text, text, text, double precision, text, text) FROM PUBLIC;

-- +goose Down
DROP FUNCTION defender_storage.start_run(text, text, timestamptz, text, text, text, double precision, text, text);
