-- Runs in compact storage: defender.sync_runs becomes a view over
-- defender_storage.sync_run, of the same columns and meaning.
--
-- - tenants.tenant_no: a number per tenant, so that a run names its tenant
--   in 4 bytes instead of the tenant id (a GUID of 36 characters), in the
--   row and in every index key.
-- - sync_worker: each host:pid that ran syncs, once; a run names it by
--   number.
-- - sync_run: one row per run. Resource and status are one-letter codes
--   (a/d/h, r/s/f, each checked); the counters are stored once: the
--   agents_* columns of the view are the records_* of agent runs (0 for
--   the other resources), as the loader always wrote them; the upgrade
--   refuses a row where they differ. Every CHECK of sync_runs holds on
--   it, under the name it had with sync_run for sync_runs. error is empty
--   rather than NULL when there is none, so that a successful run's row
--   holds no NULL and takes no null bitmap (8 bytes a row).
-- - Indexes: the key, one running run per tenant and resource (UNIQUE, as
--   before), and the runs by tenant, resource, status and fetch time:
--   what the loader, the views and the functions ask (the latest success,
--   a sync at or before a time, a day's syncs, the latest failure, a
--   tenant's runs); and a BRIN summary of start times, for the runs of a
--   period. Successful runs of a tenant and resource
--   are in fetch-time order as in run order (a run starts only when no
--   other of them runs, and its fetch time is after the previous
--   success's: sync_runs_previous_before_fetch), so "the latest success"
--   is read by fetch time.
-- - Every foreign key to sync_runs(run_id) references sync_run(run_id);
--   the views and functions that read runs on hot paths read sync_run.

-- +goose Up
ALTER TABLE defender_storage.tenants ADD COLUMN tenant_no integer GENERATED ALWAYS AS IDENTITY;
ALTER TABLE defender_storage.tenants ADD CONSTRAINT tenants_tenant_no_key UNIQUE (tenant_no);
COMMENT ON COLUMN defender_storage.tenants.tenant_no IS 'Number of the tenant within this database: how its runs name it (sync_run.tenant_no).';

CREATE TABLE defender_storage.sync_worker (
    worker_no integer GENERATED ALWAYS AS IDENTITY,
    worker    text    NOT NULL,
    CONSTRAINT sync_worker_pkey PRIMARY KEY (worker_no),
    CONSTRAINT sync_worker_worker_key UNIQUE (worker)
);
COMMENT ON TABLE defender_storage.sync_worker IS 'Each worker (host and process) that ran syncs, once: runs name it by number. Query defender.sync_runs.worker instead.';
COMMENT ON COLUMN defender_storage.sync_worker.worker_no IS 'Number of the worker, named by sync_run.worker_no.';
COMMENT ON COLUMN defender_storage.sync_worker.worker IS 'Host and process, as sync_runs.worker shows it.';

CREATE TABLE defender_storage.sync_run (
    run_id             bigint      GENERATED ALWAYS AS IDENTITY,
    started_at         timestamptz NOT NULL,
    fetched_at         timestamptz,
    finished_at        timestamptz,
    previous_sync_at   timestamptz,
    tenant_no          integer     NOT NULL,
    worker_no          integer,
    records_seen       integer     NOT NULL DEFAULT 0,
    records_inserted   integer     NOT NULL DEFAULT 0,
    records_changed    integer     NOT NULL DEFAULT 0,
    records_unchanged  integer     NOT NULL DEFAULT 0,
    records_deleted    integer     NOT NULL DEFAULT 0,
    records_rejected   integer     NOT NULL DEFAULT 0,
    heartbeat_only     integer     NOT NULL DEFAULT 0,
    deletions_withheld integer     NOT NULL DEFAULT 0,
    targets_inserted   integer     NOT NULL DEFAULT 0,
    fields_repaired    integer     NOT NULL DEFAULT 0,
    api_requests       integer     NOT NULL DEFAULT 0,
    resource           "char"      NOT NULL,
    status             "char"      NOT NULL DEFAULT 'r',
    error              text        NOT NULL DEFAULT '',
    CONSTRAINT sync_run_pkey PRIMARY KEY (run_id),
    CONSTRAINT sync_run_tenant FOREIGN KEY (tenant_no) REFERENCES defender_storage.tenants (tenant_no),
    CONSTRAINT sync_run_worker FOREIGN KEY (worker_no) REFERENCES defender_storage.sync_worker (worker_no),
    CONSTRAINT sync_run_resource CHECK (resource IN ('a', 'd', 'h')),
    CONSTRAINT sync_run_status_check CHECK (status IN ('r', 's', 'f')),
    CONSTRAINT sync_run_failed_has_error CHECK (status <> 'f' OR error <> ''),
    CONSTRAINT sync_run_finished_iff_done CHECK ((status = 'r') = (finished_at IS NULL)),
    CONSTRAINT sync_run_succeeded_has_fetch CHECK (status <> 's' OR fetched_at IS NOT NULL),
    CONSTRAINT sync_run_time_order CHECK (fetched_at >= started_at AND finished_at >= started_at),
    CONSTRAINT sync_run_previous_before_fetch CHECK (previous_sync_at < fetched_at),
    CONSTRAINT sync_run_heartbeat_only_of_agents CHECK (resource = 'a' OR heartbeat_only = 0),
    CONSTRAINT sync_run_records_seen_check CHECK (records_seen >= 0),
    CONSTRAINT sync_run_records_inserted_check CHECK (records_inserted >= 0),
    CONSTRAINT sync_run_records_changed_check CHECK (records_changed >= 0),
    CONSTRAINT sync_run_records_unchanged_check CHECK (records_unchanged >= 0),
    CONSTRAINT sync_run_records_deleted_check CHECK (records_deleted >= 0),
    CONSTRAINT sync_run_records_rejected_check CHECK (records_rejected >= 0),
    CONSTRAINT sync_run_heartbeat_only_check CHECK (heartbeat_only >= 0),
    CONSTRAINT sync_run_deletions_withheld_check CHECK (deletions_withheld >= 0),
    CONSTRAINT sync_run_targets_inserted_check CHECK (targets_inserted >= 0),
    CONSTRAINT sync_run_fields_repaired_check CHECK (fields_repaired >= 0),
    CONSTRAINT sync_run_api_requests_check CHECK (api_requests >= 0)
);
CREATE UNIQUE INDEX sync_run_one_running_per_tenant ON defender_storage.sync_run (tenant_no, resource) WHERE status = 'r';
-- Resource and status take the padding after tenant_no: the key is as
-- long as (tenant_no, fetched_at) alone.
CREATE INDEX sync_run_by_tenant ON defender_storage.sync_run (tenant_no, resource, status, fetched_at);
-- Runs are stored in the order they start: a summary of the start times
-- of each 32 pages finds the runs of a period (the report's) for a few
-- bytes.
CREATE INDEX sync_run_by_start ON defender_storage.sync_run USING brin (started_at) WITH (pages_per_range = 32);
COMMENT ON TABLE defender_storage.sync_run IS 'One row per sync of a resource of a tenant, in compact form: what defender.sync_runs shows (query it instead). The agents_* counts of sync_runs are the records_* of agent runs.';
COMMENT ON COLUMN defender_storage.sync_run.run_id IS 'Number of the run, increasing over time (sync_runs.run_id).';
COMMENT ON COLUMN defender_storage.sync_run.started_at IS 'sync_runs.started_at.';
COMMENT ON COLUMN defender_storage.sync_run.fetched_at IS 'sync_runs.fetched_at.';
COMMENT ON COLUMN defender_storage.sync_run.finished_at IS 'sync_runs.finished_at.';
COMMENT ON COLUMN defender_storage.sync_run.previous_sync_at IS 'sync_runs.previous_sync_at.';
COMMENT ON COLUMN defender_storage.sync_run.tenant_no IS 'The tenant (tenants.tenant_no).';
COMMENT ON COLUMN defender_storage.sync_run.worker_no IS 'The worker that ran it (sync_worker.worker_no); empty when none was recorded.';
COMMENT ON COLUMN defender_storage.sync_run.records_seen IS 'sync_runs.records_seen (and agents_seen of agent runs).';
COMMENT ON COLUMN defender_storage.sync_run.records_inserted IS 'sync_runs.records_inserted (and agents_inserted of agent runs).';
COMMENT ON COLUMN defender_storage.sync_run.records_changed IS 'sync_runs.records_changed (and agents_changed of agent runs).';
COMMENT ON COLUMN defender_storage.sync_run.records_unchanged IS 'sync_runs.records_unchanged (and agents_unchanged of agent runs).';
COMMENT ON COLUMN defender_storage.sync_run.records_deleted IS 'sync_runs.records_deleted (and agents_deleted of agent runs).';
COMMENT ON COLUMN defender_storage.sync_run.records_rejected IS 'sync_runs.records_rejected (and agents_rejected of agent runs).';
COMMENT ON COLUMN defender_storage.sync_run.heartbeat_only IS 'sync_runs.agents_heartbeat_only: 0 on runs of other resources.';
COMMENT ON COLUMN defender_storage.sync_run.deletions_withheld IS 'sync_runs.deletions_withheld.';
COMMENT ON COLUMN defender_storage.sync_run.targets_inserted IS 'sync_runs.targets_inserted.';
COMMENT ON COLUMN defender_storage.sync_run.fields_repaired IS 'sync_runs.fields_repaired.';
COMMENT ON COLUMN defender_storage.sync_run.api_requests IS 'sync_runs.api_requests.';
COMMENT ON COLUMN defender_storage.sync_run.resource IS 'a (agents), d (definitions) or h (history): sync_runs.resource.';
COMMENT ON COLUMN defender_storage.sync_run.status IS 'r (running), s (succeeded) or f (failed): sync_runs.status.';
COMMENT ON COLUMN defender_storage.sync_run.error IS 'sync_runs.error; empty when there is none (sync_runs shows NULL): a successful run''s row then holds no NULL, and takes no null bitmap.';

CREATE FUNCTION defender_storage.run_resource_name(code "char") RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE code WHEN 'a' THEN 'agents' WHEN 'd' THEN 'definitions' WHEN 'h' THEN 'history' END;
COMMENT ON FUNCTION defender_storage.run_resource_name("char") IS 'Internal: the resource a sync_run code stands for (agents, definitions, history).';

CREATE FUNCTION defender_storage.run_resource_code(resource text) RETURNS "char"
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE resource WHEN 'agents' THEN 'a' WHEN 'definitions' THEN 'd' WHEN 'history' THEN 'h' ELSE '?' END;
COMMENT ON FUNCTION defender_storage.run_resource_code(text) IS 'Internal: the sync_run code of a resource; ? for any other name, which sync_run_resource refuses.';

CREATE FUNCTION defender_storage.run_status_name(code "char") RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE code WHEN 'r' THEN 'running' WHEN 's' THEN 'succeeded' WHEN 'f' THEN 'failed' END;
COMMENT ON FUNCTION defender_storage.run_status_name("char") IS 'Internal: the status a sync_run code stands for (running, succeeded, failed).';

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM defender.sync_runs r
                WHERE (r.resource = 'agents' AND (r.agents_seen, r.agents_inserted, r.agents_changed, r.agents_unchanged, r.agents_deleted, r.agents_rejected)
                                                  IS DISTINCT FROM (r.records_seen, r.records_inserted, r.records_changed, r.records_unchanged, r.records_deleted, r.records_rejected))
                   OR (r.resource <> 'agents' AND (r.agents_seen, r.agents_inserted, r.agents_changed, r.agents_unchanged, r.agents_deleted, r.agents_rejected, r.agents_heartbeat_only)
                                                  IS DISTINCT FROM (0, 0, 0, 0, 0, 0, 0))) THEN
        RAISE EXCEPTION 'sync_runs holds runs whose agents_* counts are not their records_* (agent runs) or 0 (other runs): they cannot be stored compactly'
            USING HINT = 'SELECT * FROM defender.sync_runs WHERE (resource = ''agents'') <> (agents_seen = records_seen) names them.';
    END IF;
    IF EXISTS (SELECT FROM defender.sync_runs r WHERE r.error = '') THEN
        RAISE EXCEPTION 'sync_runs holds runs whose error is empty: the compact runs store an empty error as none'
            USING HINT = 'SELECT * FROM defender.sync_runs WHERE error = '''' names them.';
    END IF;
END;
$$;
-- +goose StatementEnd

INSERT INTO defender_storage.sync_worker (worker)
SELECT DISTINCT r.worker FROM defender.sync_runs r WHERE r.worker IS NOT NULL ORDER BY 1;

INSERT INTO defender_storage.sync_run (run_id, started_at, fetched_at, finished_at, previous_sync_at, tenant_no, worker_no,
       records_seen, records_inserted, records_changed, records_unchanged, records_deleted, records_rejected,
       heartbeat_only, deletions_withheld, targets_inserted, fields_repaired, api_requests, resource, status, error)
OVERRIDING SYSTEM VALUE
SELECT r.run_id, r.started_at, r.fetched_at, r.finished_at, r.previous_sync_at, t.tenant_no, w.worker_no,
       r.records_seen, r.records_inserted, r.records_changed, r.records_unchanged, r.records_deleted, r.records_rejected,
       r.agents_heartbeat_only, r.deletions_withheld, r.targets_inserted, r.fields_repaired, r.api_requests,
       CASE r.resource WHEN 'agents' THEN 'a' WHEN 'definitions' THEN 'd' WHEN 'history' THEN 'h' END::"char",
       CASE r.status WHEN 'running' THEN 'r' WHEN 'succeeded' THEN 's' WHEN 'failed' THEN 'f' END::"char",
       coalesce(r.error, '')
  FROM defender.sync_runs r
  JOIN defender_storage.tenants t ON t.tenant_id = r.tenant_id
  LEFT JOIN defender_storage.sync_worker w ON w.worker = r.worker
 ORDER BY r.run_id;

SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence('defender_storage.sync_run', 'run_id'), s.last_value, s.is_called)
  FROM defender.sync_runs_run_id_seq s;

ALTER TABLE defender_storage.agent_state DROP CONSTRAINT agent_state_deleted_by_run_id_fkey, ADD CONSTRAINT agent_state_deleted_by_run_id_fkey FOREIGN KEY (deleted_by_run_id) REFERENCES defender_storage.sync_run (run_id);
ALTER TABLE defender_storage.agent_state DROP CONSTRAINT agent_state_first_seen_run_id_fkey, ADD CONSTRAINT agent_state_first_seen_run_id_fkey FOREIGN KEY (first_seen_run_id) REFERENCES defender_storage.sync_run (run_id);
ALTER TABLE defender.scan_agent_history DROP CONSTRAINT scan_agent_history_closed_by_run_id_fkey, ADD CONSTRAINT scan_agent_history_closed_by_run_id_fkey FOREIGN KEY (closed_by_run_id) REFERENCES defender_storage.sync_run (run_id);
ALTER TABLE defender.scan_agent_history DROP CONSTRAINT scan_agent_history_opened_by_run_id_fkey, ADD CONSTRAINT scan_agent_history_opened_by_run_id_fkey FOREIGN KEY (opened_by_run_id) REFERENCES defender_storage.sync_run (run_id);
ALTER TABLE defender_storage.withheld_deletions DROP CONSTRAINT withheld_deletions_run_id_fkey, ADD CONSTRAINT withheld_deletions_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender_storage.sync_run (run_id);
ALTER TABLE defender_storage.tenants DROP CONSTRAINT tenants_last_run_id_fkey, ADD CONSTRAINT tenants_last_run_id_fkey FOREIGN KEY (last_run_id) REFERENCES defender_storage.sync_run (run_id);
ALTER TABLE defender_storage.agent_daily DROP CONSTRAINT agent_daily_run_id_fkey, ADD CONSTRAINT agent_daily_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender_storage.sync_run (run_id);
ALTER TABLE defender_storage.tenant_daily DROP CONSTRAINT tenant_daily_run_id_fkey, ADD CONSTRAINT tenant_daily_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender_storage.sync_run (run_id);
ALTER TABLE defender_storage.definition_state DROP CONSTRAINT definition_state_deleted_by_run_id_fkey, ADD CONSTRAINT definition_state_deleted_by_run_id_fkey FOREIGN KEY (deleted_by_run_id) REFERENCES defender_storage.sync_run (run_id);
ALTER TABLE defender_storage.definition_state DROP CONSTRAINT definition_state_first_seen_run_id_fkey, ADD CONSTRAINT definition_state_first_seen_run_id_fkey FOREIGN KEY (first_seen_run_id) REFERENCES defender_storage.sync_run (run_id);
ALTER TABLE defender_storage.definition_version DROP CONSTRAINT definition_version_closed_by_run_id_fkey, ADD CONSTRAINT definition_version_closed_by_run_id_fkey FOREIGN KEY (closed_by_run_id) REFERENCES defender_storage.sync_run (run_id);
ALTER TABLE defender_storage.definition_version DROP CONSTRAINT definition_version_opened_by_run_id_fkey, ADD CONSTRAINT definition_version_opened_by_run_id_fkey FOREIGN KEY (opened_by_run_id) REFERENCES defender_storage.sync_run (run_id);
ALTER TABLE defender_storage.definition_withheld DROP CONSTRAINT definition_withheld_run_id_fkey, ADD CONSTRAINT definition_withheld_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender_storage.sync_run (run_id);
ALTER TABLE defender_storage.session_result DROP CONSTRAINT session_result_recorded_by_run_id_fkey, ADD CONSTRAINT session_result_recorded_by_run_id_fkey FOREIGN KEY (recorded_by_run_id) REFERENCES defender_storage.sync_run (run_id);
ALTER TABLE defender_storage.session_result DROP CONSTRAINT session_result_targets_run_id_fkey, ADD CONSTRAINT session_result_targets_run_id_fkey FOREIGN KEY (targets_run_id) REFERENCES defender_storage.sync_run (run_id);
ALTER TABLE defender_storage.session_result DROP CONSTRAINT session_result_updated_by_run_id_fkey, ADD CONSTRAINT session_result_updated_by_run_id_fkey FOREIGN KEY (updated_by_run_id) REFERENCES defender_storage.sync_run (run_id);
ALTER TABLE defender_storage.observation DROP CONSTRAINT observation_run_id_fkey, ADD CONSTRAINT observation_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender_storage.sync_run (run_id);
ALTER TABLE defender_storage.session_write DROP CONSTRAINT session_write_run_id_fkey, ADD CONSTRAINT session_write_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender_storage.sync_run (run_id);
ALTER TABLE defender_storage.run_digest DROP CONSTRAINT run_digest_run_id_fkey, ADD CONSTRAINT run_digest_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender_storage.sync_run (run_id);

DROP FUNCTION defender.scan_agents_as_of(timestamptz);
DROP FUNCTION defender_storage.scan_agents_as_of(timestamptz, name, text);
DROP VIEW defender.run_digests, defender.tenant_sync_status, defender.scan_coverage, defender.scan_definitions, defender.scan_definition_changes, defender.scan_agents, defender.scan_agent_observations, defender.scan_agent_changes, defender.scan_agent_daily;
DROP FUNCTION defender_storage.refresh_fleet_daily(text, date);
DROP VIEW defender.agent_daily_open;
DROP TABLE defender.sync_runs;

-- The runs as before, for readers: filtered like every view of schema
-- defender (00017), so a role given tenants sees their runs alone.
CREATE VIEW defender.sync_runs WITH (security_barrier) AS
SELECT r.run_id, t.tenant_id, r.started_at, r.fetched_at, r.finished_at,
       CASE r.status WHEN 'r' THEN 'running' WHEN 's' THEN 'succeeded' WHEN 'f' THEN 'failed' END AS status,
       CASE WHEN r.resource = 'a' THEN r.records_seen ELSE 0 END AS agents_seen,
       CASE WHEN r.resource = 'a' THEN r.records_inserted ELSE 0 END AS agents_inserted,
       CASE WHEN r.resource = 'a' THEN r.records_changed ELSE 0 END AS agents_changed,
       CASE WHEN r.resource = 'a' THEN r.records_unchanged ELSE 0 END AS agents_unchanged,
       CASE WHEN r.resource = 'a' THEN r.records_deleted ELSE 0 END AS agents_deleted,
       r.deletions_withheld,
       CASE WHEN r.resource = 'a' THEN r.records_rejected ELSE 0 END AS agents_rejected,
       r.api_requests, nullif(r.error, '') AS error, w.worker, r.previous_sync_at,
       CASE r.resource WHEN 'a' THEN 'agents' WHEN 'd' THEN 'definitions' WHEN 'h' THEN 'history' END AS resource,
       r.records_seen, r.records_inserted, r.records_changed, r.records_unchanged, r.records_deleted, r.records_rejected,
       r.targets_inserted, r.heartbeat_only AS agents_heartbeat_only, r.fields_repaired
  FROM defender_storage.sync_run r
  JOIN defender_storage.tenants t ON t.tenant_no = r.tenant_no
  LEFT JOIN defender_storage.sync_worker w ON w.worker_no = r.worker_no
 WHERE (SELECT defender_storage.visible_tenants(CURRENT_USER)) IS NULL
    OR t.tenant_id = ANY ((SELECT defender_storage.visible_tenants(CURRENT_USER))::text[]);

COMMENT ON VIEW defender.sync_runs IS 'One row per sync of a resource of a tenant (see resource): when it ran, how it ended and what it counted. A failed run changed no data. The agents_* columns count agent runs only; records_* count every run.';
COMMENT ON COLUMN defender.sync_runs.run_id IS 'Number of the run, increasing over time.';
COMMENT ON COLUMN defender.sync_runs.tenant_id IS 'Microsoft Entra tenant (GUID or domain, lower case) that was synced.';
COMMENT ON COLUMN defender.sync_runs.started_at IS 'When the run started (UTC).';
COMMENT ON COLUMN defender.sync_runs.fetched_at IS 'When the run began fetching agents from Defender. Every change and observation recorded by the run carries this time.';
COMMENT ON COLUMN defender.sync_runs.finished_at IS 'When the run ended (UTC); empty while it is running.';
COMMENT ON COLUMN defender.sync_runs.status IS 'running, succeeded or failed. A failed run changed no agent data.';
COMMENT ON COLUMN defender.sync_runs.agents_seen IS 'Agents the Defender API returned in this run (after removing duplicates and rejected records).';
COMMENT ON COLUMN defender.sync_runs.agents_inserted IS 'Agents seen for the first time.';
COMMENT ON COLUMN defender.sync_runs.agents_changed IS 'Known agents with a changed descriptive value (a new version: every column of scan_agents but last_seen, last_command_execution_at and bookkeeping), including agents that returned after deletion. Agents of which only the heartbeat moved are agents_heartbeat_only.';
COMMENT ON COLUMN defender.sync_runs.agents_unchanged IS 'Known agents returned with exactly the values already stored, heartbeat included.';
COMMENT ON COLUMN defender.sync_runs.agents_deleted IS 'Agents marked deleted because this complete listing no longer returned them.';
COMMENT ON COLUMN defender.sync_runs.deletions_withheld IS 'Agents missing from this listing whose deletion was withheld by the mass-deletion guard (0 when none).';
COMMENT ON COLUMN defender.sync_runs.agents_rejected IS 'Records the API returned that could not be read (no id, a malformed timestamp...). An agent listed but unreadable is kept as it was, never deleted.';
COMMENT ON COLUMN defender.sync_runs.api_requests IS 'HTTP requests made to the Defender API by this run, retries included.';
COMMENT ON COLUMN defender.sync_runs.error IS 'Why the run failed; empty unless status is failed.';
COMMENT ON COLUMN defender.sync_runs.worker IS 'Host and process that ran the sync, for troubleshooting.';
COMMENT ON COLUMN defender.sync_runs.previous_sync_at IS 'Fetch time of the tenant''s previous successful sync, when this run succeeded; empty for its first. A change this run recorded happened in (previous_sync_at, fetched_at].';
COMMENT ON COLUMN defender.sync_runs.resource IS 'What the run synced: agents (scan agents), definitions (scan definitions) or history (scan sessions and their targets). Each resource of a tenant has its own runs; a failure of one never undoes another.';
COMMENT ON COLUMN defender.sync_runs.records_seen IS 'Records of the run''s resource the API returned (agents, definitions or sessions), after removing duplicates and rejected ones.';
COMMENT ON COLUMN defender.sync_runs.records_inserted IS 'Records seen for the first time.';
COMMENT ON COLUMN defender.sync_runs.records_changed IS 'Known records with at least one changed value (agents and definitions: a new version, or a return; sessions: values the history completed or corrected). Agents of which only the heartbeat moved are agents_heartbeat_only.';
COMMENT ON COLUMN defender.sync_runs.records_unchanged IS 'Known records returned with exactly the values already stored: not written.';
COMMENT ON COLUMN defender.sync_runs.records_deleted IS 'Agents or definitions marked deleted because this complete listing no longer returned them.';
COMMENT ON COLUMN defender.sync_runs.records_rejected IS 'Records the API returned that could not be read; a definition listed but unreadable is kept as it was, never deleted.';
COMMENT ON COLUMN defender.sync_runs.targets_inserted IS 'History runs: scanned targets stored, of the sessions whose targets were not stored yet.';
COMMENT ON COLUMN defender.sync_runs.agents_heartbeat_only IS 'Known agents of which only last_seen or last_command_execution_at moved: observed, no new version ("seen" in the sync''s summary). agents_inserted + agents_changed + agents_heartbeat_only + agents_unchanged = agents_seen. 0 on runs of other resources.';
COMMENT ON COLUMN defender.sync_runs.fields_repaired IS 'Fields of the listing stored repaired, because PostgreSQL cannot store them as sent: a NUL character dropped, invalid UTF-8 replaced by U+FFFD. The log of the run names the fields and the records. 0 for runs before this was counted.';

-- The readers' views and functions that read runs, as before but reading
-- sync_run where they look runs up by tenant.
-- defender_storage.scan_agents_as_of(timestamp with time zone, name, text)
-- +goose StatementBegin
CREATE FUNCTION defender_storage.scan_agents_as_of(at timestamp with time zone, viewer name, tenant text) RETURNS TABLE(tenant_id text, agent_id text, machine_id text, computer_dns_name text, assigned_application_id text, scanner_software_version text, mde_client_version text, last_seen timestamp with time zone, last_command_execution_at timestamp with time zone, extra jsonb, as_of_run_id bigint, as_of_fetched_at timestamp with time zone)
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    BEGIN ATOMIC
 WITH s AS (
          SELECT t.tenant_id,
             t.tenant_no,
             r.run_id,
             r.fetched_at,
             (r.run_id = t.last_run_id) AS latest,
             defender.utc_day(r.fetched_at) AS day,
             ((defender.utc_day(r.fetched_at))::timestamp without time zone AT TIME ZONE 'UTC'::text) AS day_start,
             (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE (w.run_id = r.run_id))) AS withheld
            FROM (defender_storage.tenants t
              CROSS JOIN LATERAL ( SELECT r_1.run_id,
                     r_1.fetched_at
                    FROM defender_storage.sync_run r_1
                   WHERE ((r_1.tenant_no = t.tenant_no) AND (r_1.resource = 'a'::"char") AND (r_1.status = 's'::"char") AND (r_1.fetched_at <= scan_agents_as_of.at))
                   ORDER BY r_1.fetched_at DESC
                  LIMIT 1) r)
           WHERE (((( SELECT defender_storage.visible_tenants(scan_agents_as_of.viewer) AS visible_tenants) IS NULL) OR (t.tenant_id = ANY (( SELECT defender_storage.visible_tenants(scan_agents_as_of.viewer) AS visible_tenants)::text[]))) AND ((scan_agents_as_of.tenant IS NULL) OR (t.tenant_id = lower(scan_agents_as_of.tenant))))
         ), current AS (
          SELECT s.tenant_id,
             a.agent_id,
             a.machine_id,
             a.computer_dns_name,
             a.assigned_application_id,
             a.scanner_software_version,
             a.mde_client_version,
             hb.last_seen,
             hb.last_command_execution_at,
             a.extra,
             s.run_id,
             s.fetched_at
            FROM ((s
              JOIN defender_storage.agent_state a ON (((a.tenant_id = s.tenant_id) AND (a.deleted_at IS NULL))))
              LEFT JOIN defender_storage.agent_heartbeat hb ON ((hb.agent_key = a.agent_key)))
           WHERE (s.latest AND (NOT (s.withheld AND (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE ((w.agent_key = a.agent_key) AND (w.run_id = s.run_id)))))))
         ), versions AS MATERIALIZED (
          SELECT s.run_id,
             s.fetched_at,
             s.day,
             s.day_start,
             a.tenant_id,
             h.agent_key,
             a.agent_no,
             h.agent_id,
             h.machine_id,
             h.computer_dns_name,
             h.assigned_application_id,
             h.scanner_software_version,
             h.mde_client_version,
             h.extra,
             h.valid_to
            FROM ((s
              JOIN defender_storage.agent_state a ON (((a.tenant_id = s.tenant_id) AND (a.first_seen_at <= s.fetched_at) AND ((a.deleted_at IS NULL) OR (a.deleted_at > s.fetched_at)))))
              CROSS JOIN LATERAL ( SELECT h_1.agent_key,
                     h_1.agent_id,
                     h_1.machine_id,
                     h_1.computer_dns_name,
                     h_1.assigned_application_id,
                     h_1.scanner_software_version,
                     h_1.mde_client_version,
                     h_1.extra,
                     h_1.valid_to
                    FROM defender.scan_agent_history h_1
                   WHERE ((h_1.agent_key = a.agent_key) AND (h_1.valid_from <= s.fetched_at))
                   ORDER BY h_1.valid_from DESC
                  LIMIT 1) h)
           WHERE ((NOT s.latest) AND ((h.valid_to IS NULL) OR (h.valid_to > s.fetched_at)) AND (NOT (s.withheld AND (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE ((w.agent_key = h.agent_key) AND (w.run_id = s.run_id)))))))
         ), day_obs AS MATERIALIZED (
          SELECT DISTINCT ON (s.tenant_id, x.agent_no) s.tenant_id,
             x.agent_no,
             x.last_seen,
             x.last_command_execution_at
            FROM (((s
              JOIN defender_storage.sync_run r ON (((r.tenant_no = s.tenant_no) AND (r.resource = 'a'::"char") AND (r.status = 's'::"char") AND (r.fetched_at >= s.day_start) AND (r.fetched_at <= s.fetched_at))))
              CROSS JOIN LATERAL ( SELECT o_1.observed_at,
                     o_1.agent_nos,
                     o_1.last_seen,
                     o_1.last_command_execution_at
                    FROM defender_storage.observation o_1
                   WHERE ((o_1.run_id = r.run_id) AND (o_1.observed_at = r.fetched_at))
                  LIMIT 1) o)
              CROSS JOIN LATERAL UNNEST(o.agent_nos, o.last_seen, o.last_command_execution_at) x(agent_no, last_seen, last_command_execution_at))
           WHERE (NOT s.latest)
           ORDER BY s.tenant_id, x.agent_no, o.observed_at DESC
         )
  SELECT c.tenant_id,
     c.agent_id,
     c.machine_id,
     c.computer_dns_name,
     c.assigned_application_id,
     c.scanner_software_version,
     c.mde_client_version,
     c.last_seen,
     c.last_command_execution_at,
     c.extra,
     c.run_id,
     c.fetched_at
    FROM current c
 UNION ALL
  SELECT v.tenant_id,
     v.agent_id,
     v.machine_id,
     v.computer_dns_name,
     v.assigned_application_id,
     v.scanner_software_version,
     v.mde_client_version,
         CASE
             WHEN (d.agent_no IS NOT NULL) THEN d.last_seen
             ELSE p.last_seen
         END AS last_seen,
         CASE
             WHEN (d.agent_no IS NOT NULL) THEN d.last_command_execution_at
             ELSE p.last_command_execution_at
         END AS last_command_execution_at,
     v.extra,
     v.run_id,
     v.fetched_at
    FROM ((versions v
      LEFT JOIN day_obs d ON (((d.tenant_id = v.tenant_id) AND (d.agent_no = v.agent_no))))
      LEFT JOIN LATERAL ( SELECT ad.last_seen,
             ad.last_command_execution_at
            FROM defender_storage.agent_daily ad
           WHERE ((d.agent_no IS NULL) AND (ad.agent_key = v.agent_key) AND (ad.day < v.day))
           ORDER BY ad.day DESC
          LIMIT 1) p ON (true));
END;
-- +goose StatementEnd

COMMENT ON FUNCTION defender_storage.scan_agents_as_of(at timestamp with time zone, viewer name, tenant text) IS 'Runs for readers: defender.scan_agents_as_of for the tenants the role viewer may see (of them, tenant alone when given, any case); runs as its owner to read the storage. Only the wrapper calls it (readers cannot name it), with its caller as viewer.';

-- defender.scan_agents_as_of(timestamp with time zone)
-- +goose StatementBegin
CREATE FUNCTION defender.scan_agents_as_of(at timestamp with time zone) RETURNS TABLE(tenant_id text, agent_id text, machine_id text, computer_dns_name text, assigned_application_id text, scanner_software_version text, mde_client_version text, last_seen timestamp with time zone, last_command_execution_at timestamp with time zone, extra jsonb, as_of_run_id bigint, as_of_fetched_at timestamp with time zone)
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    BEGIN ATOMIC
 SELECT a.tenant_id,
     a.agent_id,
     a.machine_id,
     a.computer_dns_name,
     a.assigned_application_id,
     a.scanner_software_version,
     a.mde_client_version,
     a.last_seen,
     a.last_command_execution_at,
     a.extra,
     a.as_of_run_id,
     a.as_of_fetched_at
    FROM defender_storage.scan_agents_as_of(scan_agents_as_of.at, CURRENT_USER, NULL::text) a(tenant_id, agent_id, machine_id, computer_dns_name, assigned_application_id, scanner_software_version, mde_client_version, last_seen, last_command_execution_at, extra, as_of_run_id, as_of_fetched_at);
END;
-- +goose StatementEnd

COMMENT ON FUNCTION defender.scan_agents_as_of(at timestamp with time zone) IS 'The agents exactly as the last successful sync at or before the given time saw them, per tenant (the columns of scan_agents without bookkeeping), then as_of_run_id and as_of_fetched_at: the sync the answer comes from. Example: SELECT * FROM defender.scan_agents_as_of(''2026-10-01''). Beyond OBSERVATION_RETENTION, last_seen and last_command_execution_at are those of the last sync of the previous day.';

-- defender.agent_daily_open

CREATE VIEW defender.agent_daily_open WITH (security_barrier='true') AS
 SELECT v.agent_key,
    v.tenant_id,
    v.day,
    v.run_id,
    v.synced_at,
    v.computer_dns_name,
    v.mde_client_version,
    v.scanner_software_version,
    v.last_seen,
    v.last_command_execution_at,
    v.syncs_observed
   FROM ( SELECT a.agent_key,
            a.tenant_id,
            td.day,
            t.last_run_id AS run_id,
            t.last_fetched_at AS synced_at,
            a.computer_dns_name,
            a.mde_client_version,
            a.scanner_software_version,
            hb.last_seen,
            hb.last_command_execution_at,
            ((
                CASE
                    WHEN (a.active_since <= td.first_synced_at) THEN td.syncs
                    ELSE ( SELECT (count(*))::integer AS count
                       FROM defender_storage.sync_run r
                      WHERE ((r.tenant_no = t.tenant_no) AND (r.resource = 'a'::"char") AND (r.status = 's'::"char") AND (r.fetched_at >= a.active_since) AND (r.fetched_at <= t.last_fetched_at)))
                END -
                CASE
                    WHEN (wh.agent_key IS NULL) THEN 0
                    ELSE ( SELECT (count(*))::integer AS count
                       FROM unnest(wh.withheld_at) x(at)
                      WHERE (x.at >= GREATEST(a.active_since, td.first_synced_at)))
                END) + COALESCE(earlier.syncs_observed, 0)) AS syncs_observed
           FROM (((((defender_storage.tenants t
             JOIN defender_storage.tenant_daily td ON (((td.tenant_id = t.tenant_id) AND (td.day = defender.utc_day(t.last_fetched_at)))))
             JOIN defender_storage.agent_state a ON (((a.tenant_id = t.tenant_id) AND (a.deleted_at IS NULL))))
             LEFT JOIN defender_storage.agent_heartbeat hb ON ((hb.agent_key = a.agent_key)))
             LEFT JOIN defender_storage.agent_daily earlier ON (((earlier.agent_key = a.agent_key) AND (earlier.day = td.day))))
             LEFT JOIN ( SELECT w.agent_key,
                    array_agg(r.fetched_at) AS withheld_at
                   FROM ((defender_storage.tenants wt
                     JOIN defender_storage.sync_run r ON (((r.tenant_no = wt.tenant_no) AND (r.resource = 'a'::"char") AND (r.status = 's'::"char") AND (r.fetched_at >= ((defender.utc_day(wt.last_fetched_at))::timestamp without time zone AT TIME ZONE 'UTC'::text)))))
                     JOIN defender_storage.withheld_deletions w ON ((w.run_id = r.run_id)))
                  GROUP BY w.agent_key) wh ON ((wh.agent_key = a.agent_key)))) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

COMMENT ON VIEW defender.agent_daily_open IS 'The rows of scan_agent_daily for the open day of each tenant (the day of its latest successful sync), computed from the current state, with internal agent keys.';

COMMENT ON COLUMN defender.agent_daily_open.agent_key IS 'Internal number of the agent (see defender.agent_state).';

COMMENT ON COLUMN defender.agent_daily_open.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';

COMMENT ON COLUMN defender.agent_daily_open.day IS 'The UTC day of the tenant''s latest successful sync.';

COMMENT ON COLUMN defender.agent_daily_open.run_id IS 'That sync.';

COMMENT ON COLUMN defender.agent_daily_open.synced_at IS 'Fetch time of that sync.';

COMMENT ON COLUMN defender.agent_daily_open.computer_dns_name IS 'Host name as of that sync.';

COMMENT ON COLUMN defender.agent_daily_open.mde_client_version IS 'Defender client version as of that sync.';

COMMENT ON COLUMN defender.agent_daily_open.scanner_software_version IS 'Scanner version as of that sync.';

COMMENT ON COLUMN defender.agent_daily_open.last_seen IS 'last_seen as of that sync.';

COMMENT ON COLUMN defender.agent_daily_open.last_command_execution_at IS 'last_command_execution_at as of that sync.';

COMMENT ON COLUMN defender.agent_daily_open.syncs_observed IS 'Successful syncs of the day so far that returned the agent.';

-- defender_storage.refresh_fleet_daily(text, date)
-- +goose StatementBegin
CREATE FUNCTION defender_storage.refresh_fleet_daily(tenant text, day date) RETURNS void
    LANGUAGE sql
    BEGIN ATOMIC
 WITH fleet AS (
          SELECT d.mde_client_version,
             d.last_seen,
             td_1.synced_at
            FROM (defender_storage.tenant_daily td_1
              JOIN defender_storage.agent_daily d ON (((d.day = td_1.day) AND (d.run_id = td_1.run_id))))
           WHERE ((td_1.tenant_id = refresh_fleet_daily.tenant) AND (td_1.day = refresh_fleet_daily.day) AND (refresh_fleet_daily.day <> ( SELECT defender.utc_day(t.last_fetched_at) AS utc_day
                    FROM defender_storage.tenants t
                   WHERE (t.tenant_id = refresh_fleet_daily.tenant))))
         UNION ALL
          SELECT o.mde_client_version,
             o.last_seen,
             o.synced_at
            FROM defender.agent_daily_open o
           WHERE ((o.tenant_id = refresh_fleet_daily.tenant) AND (o.day = refresh_fleet_daily.day))
         ), versions AS (
          SELECT v.mde_client_version,
             v.agents,
             v.stale,
             v.never_seen,
             defender.version_key(v.mde_client_version) AS key
            FROM ( SELECT f.mde_client_version,
                     count(*) AS agents,
                     count(*) FILTER (WHERE (f.last_seen <= (f.synced_at - '7 days'::interval))) AS stale,
                     count(*) FILTER (WHERE (f.last_seen IS NULL)) AS never_seen
                    FROM fleet f
                   GROUP BY f.mde_client_version) v
         ), newest AS (
          SELECT v.key,
             v.mde_client_version AS version
            FROM versions v
           WHERE (v.key IS NOT NULL)
           ORDER BY v.key DESC, (length(v.mde_client_version)) DESC, v.mde_client_version
          LIMIT 1
         )
  UPDATE defender_storage.tenant_daily AS td SET active_agents = COALESCE(s.active, (0)::numeric), stale_7d_agents = COALESCE(s.stale, (0)::numeric), never_seen_agents = COALESCE(s.never_seen, (0)::numeric), newest_mde_client_version = ( SELECT newest.version
            FROM newest), agents_on_newest = COALESCE(s.on_newest, (0)::numeric), mde_client_versions = s.counts
    FROM ( SELECT sum(v.agents) AS active,
             sum(v.stale) AS stale,
             sum(v.never_seen) AS never_seen,
             sum(v.agents) FILTER (WHERE (v.key = ( SELECT newest.key
                    FROM newest))) AS on_newest,
             COALESCE(jsonb_object_agg(v.mde_client_version, v.agents) FILTER (WHERE (v.mde_client_version IS NOT NULL)), '{}'::jsonb) AS counts
            FROM versions v) s
   WHERE ((td.tenant_id = refresh_fleet_daily.tenant) AND (td.day = refresh_fleet_daily.day));
END;
-- +goose StatementEnd

COMMENT ON FUNCTION defender_storage.refresh_fleet_daily(tenant text, day date) IS 'Internal: recomputes the agent counts of a tenant''s day in tenant_daily from the agents active at the day''s last successful sync. The loader calls it in every sync''s transaction.';

-- defender.run_digests

CREATE VIEW defender.run_digests WITH (security_barrier='true') AS
 SELECT r.run_id,
    r.tenant_id,
    r.resource,
    r.fetched_at,
    d.previous_run_id,
    encode(d.digest, 'hex'::text) AS digest,
    d.computed_at_upgrade
   FROM (defender_storage.run_digest d
     JOIN defender.sync_runs r ON ((r.run_id = d.run_id)))
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (r.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

COMMENT ON VIEW defender.run_digests IS 'The digest of each successful run, chained with the previous successful run of its tenant and resource: the latest of a tenant and resource is its chain head. agentsync verify recomputes them (docs/audit.md).';

COMMENT ON COLUMN defender.run_digests.run_id IS 'The run.';

COMMENT ON COLUMN defender.run_digests.tenant_id IS 'Its tenant.';

COMMENT ON COLUMN defender.run_digests.resource IS 'What it synced: agents, definitions or history; each tenant and resource is a chain of its own.';

COMMENT ON COLUMN defender.run_digests.fetched_at IS 'Its fetch time.';

COMMENT ON COLUMN defender.run_digests.previous_run_id IS 'The run whose digest it chains; empty for the first of the chain.';

COMMENT ON COLUMN defender.run_digests.digest IS 'SHA-256, hex: of the previous digest and of what the run wrote.';

COMMENT ON COLUMN defender.run_digests.computed_at_upgrade IS 'True when the upgrade to digests computed it, from the rows as they were then: it proves nothing of before the upgrade.';

-- defender.scan_agent_changes

CREATE VIEW defender.scan_agent_changes WITH (security_barrier='true') AS
 SELECT v.tenant_id,
    v.agent_id,
    v.changed_at,
    v.attribute,
    v.old_value,
    v.new_value,
    v.run_id,
    v.previous_sync_at
   FROM ( SELECT v_1.tenant_id,
            v_1.agent_id,
            v_1.valid_from AS changed_at,
            c.attribute,
            c.old_value,
            c.new_value,
            v_1.opened_by_run_id AS run_id,
            r.previous_sync_at
           FROM (((defender.scan_agent_history v_1
             LEFT JOIN LATERAL ( SELECT p_1.history_id,
                    p_1.agent_key,
                    p_1.tenant_id,
                    p_1.agent_id,
                    p_1.machine_id,
                    p_1.computer_dns_name,
                    p_1.assigned_application_id,
                    p_1.scanner_software_version,
                    p_1.mde_client_version,
                    p_1.extra,
                    p_1.valid_from,
                    p_1.valid_to,
                    p_1.opened_by_run_id,
                    p_1.closed_by_run_id
                   FROM defender.scan_agent_history p_1
                  WHERE ((p_1.agent_key = v_1.agent_key) AND (p_1.valid_from < v_1.valid_from))
                  ORDER BY p_1.valid_from DESC
                 LIMIT 1) p ON (true))
             JOIN defender_storage.sync_run r ON ((r.run_id = v_1.opened_by_run_id)))
             CROSS JOIN LATERAL ( SELECT 'agent'::text AS "?column?",
                        CASE
                            WHEN (p.valid_to IS NOT NULL) THEN 'deleted'::text
                            ELSE NULL::text
                        END AS "case",
                        CASE
                            WHEN (p.valid_to IS NOT NULL) THEN 'returned'::text
                            ELSE 'first seen'::text
                        END AS "case"
                  WHERE ((p.valid_to IS NULL) OR (p.valid_to < v_1.valid_from))
                UNION ALL
                 SELECT a.attribute,
                    a.old_value,
                    a.new_value
                   FROM ( VALUES ('machine_id'::text,p.machine_id,v_1.machine_id), ('computer_dns_name'::text,p.computer_dns_name,v_1.computer_dns_name), ('assigned_application_id'::text,p.assigned_application_id,v_1.assigned_application_id), ('scanner_software_version'::text,p.scanner_software_version,v_1.scanner_software_version), ('mde_client_version'::text,p.mde_client_version,v_1.mde_client_version)) a(attribute, old_value, new_value)
                  WHERE ((p.history_id IS NOT NULL) AND (a.old_value IS DISTINCT FROM a.new_value))
                UNION ALL
                 SELECT ('extra.'::text || k.key),
                    ((p.extra -> k.key) #>> '{}'::text[]),
                    ((v_1.extra -> k.key) #>> '{}'::text[])
                   FROM ( SELECT jsonb_object_keys(p.extra) AS jsonb_object_keys
                        UNION
                         SELECT jsonb_object_keys(v_1.extra) AS jsonb_object_keys) k(key)
                  WHERE ((p.history_id IS NOT NULL) AND (p.extra IS DISTINCT FROM v_1.extra) AND ((p.extra -> k.key) IS DISTINCT FROM (v_1.extra -> k.key)))) c(attribute, old_value, new_value))
        UNION ALL
         SELECT v_1.tenant_id,
            v_1.agent_id,
            v_1.valid_to AS changed_at,
            'agent'::text AS attribute,
            'active'::text AS old_value,
            'deleted'::text AS new_value,
            v_1.closed_by_run_id AS run_id,
            r.previous_sync_at
           FROM (defender.scan_agent_history v_1
             JOIN defender_storage.sync_run r ON ((r.run_id = v_1.closed_by_run_id)))
          WHERE ((v_1.valid_to IS NOT NULL) AND (NOT (EXISTS ( SELECT
                   FROM defender.scan_agent_history n
                  WHERE ((n.agent_key = v_1.agent_key) AND (n.valid_from = v_1.valid_to))))))) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

COMMENT ON VIEW defender.scan_agent_changes IS 'One row per changed attribute of an agent, from its history: versions, host names, application ids, fields without a column (attribute extra.<name>), and the agent itself being first seen, deleted or returning (attribute agent).';

COMMENT ON COLUMN defender.scan_agent_changes.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';

COMMENT ON COLUMN defender.scan_agent_changes.agent_id IS 'Defender id of the scan agent.';

COMMENT ON COLUMN defender.scan_agent_changes.changed_at IS 'Fetch time of the sync that saw the change.';

COMMENT ON COLUMN defender.scan_agent_changes.attribute IS 'What changed: a column name of scan_agents, extra.<field name as sent>, or agent (first seen, deleted, returned).';

COMMENT ON COLUMN defender.scan_agent_changes.old_value IS 'Value before the change, as text; empty if there was none.';

COMMENT ON COLUMN defender.scan_agent_changes.new_value IS 'Value after the change, as text; empty if there is none.';

COMMENT ON COLUMN defender.scan_agent_changes.run_id IS 'The sync run that saw the change.';

COMMENT ON COLUMN defender.scan_agent_changes.previous_sync_at IS 'Fetch time of the tenant''s previous successful sync: the change happened in (previous_sync_at, changed_at]. Empty for changes seen by a tenant''s first sync.';

-- defender.scan_agent_daily

CREATE VIEW defender.scan_agent_daily WITH (security_barrier='true') AS
 SELECT v.tenant_id,
    v.agent_id,
    v.day,
    v.computer_dns_name,
    v.mde_client_version,
    v.scanner_software_version,
    v.last_seen,
    v.staleness,
    v.syncs_observed,
    v.last_command_execution_at,
    v.as_of_run_id,
    v.as_of_fetched_at
   FROM ( SELECT a.tenant_id,
            a.agent_id,
            d.day,
            d.computer_dns_name,
            d.mde_client_version,
            d.scanner_software_version,
            d.last_seen,
            (d.synced_at - d.last_seen) AS staleness,
            d.syncs_observed,
            d.last_command_execution_at,
            d.run_id AS as_of_run_id,
            d.synced_at AS as_of_fetched_at
           FROM ((defender_storage.agent_daily d
             JOIN defender_storage.agent_state a ON ((a.agent_key = d.agent_key)))
             JOIN defender_storage.tenants t ON ((t.tenant_id = a.tenant_id)))
          WHERE (NOT ((a.deleted_at IS NULL) AND (d.day = defender.utc_day(t.last_fetched_at))))
        UNION ALL
         SELECT o.tenant_id,
            a.agent_id,
            o.day,
            o.computer_dns_name,
            o.mde_client_version,
            o.scanner_software_version,
            o.last_seen,
            (o.synced_at - o.last_seen) AS staleness,
            o.syncs_observed,
            o.last_command_execution_at,
            o.run_id AS as_of_run_id,
            o.synced_at AS as_of_fetched_at
           FROM (defender.agent_daily_open o
             JOIN defender_storage.agent_state a ON ((a.agent_key = o.agent_key)))) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

COMMENT ON VIEW defender.scan_agent_daily IS 'One row per agent per UTC day on which its tenant had a successful sync while the agent was active: the agent as the day''s last such sync saw it. Kept after OBSERVATION_RETENTION drops raw observations.';

COMMENT ON COLUMN defender.scan_agent_daily.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';

COMMENT ON COLUMN defender.scan_agent_daily.agent_id IS 'Defender id of the scan agent.';

COMMENT ON COLUMN defender.scan_agent_daily.day IS 'The UTC day.';

COMMENT ON COLUMN defender.scan_agent_daily.computer_dns_name IS 'Host name as of the day''s last sync that had the agent active.';

COMMENT ON COLUMN defender.scan_agent_daily.mde_client_version IS 'Defender client version as of that sync.';

COMMENT ON COLUMN defender.scan_agent_daily.scanner_software_version IS 'Scanner version as of that sync.';

COMMENT ON COLUMN defender.scan_agent_daily.last_seen IS 'last_seen as of that sync.';

COMMENT ON COLUMN defender.scan_agent_daily.staleness IS 'That sync''s fetch time minus last_seen: how long the agent had not checked in; empty if never.';

COMMENT ON COLUMN defender.scan_agent_daily.syncs_observed IS 'Successful syncs of the day that returned the agent.';

COMMENT ON COLUMN defender.scan_agent_daily.last_command_execution_at IS 'last_command_execution_at as of that sync.';

COMMENT ON COLUMN defender.scan_agent_daily.as_of_run_id IS 'The sync the row comes from: the day''s last successful sync at which the agent was active.';

COMMENT ON COLUMN defender.scan_agent_daily.as_of_fetched_at IS 'Fetch time of that sync.';

-- defender.scan_agent_observations

CREATE VIEW defender.scan_agent_observations WITH (security_barrier='true') AS
 SELECT v.tenant_id,
    v.agent_id,
    v.run_id,
    v.observed_at,
    v.last_seen,
    v.last_command_execution_at
   FROM ( SELECT a.tenant_id,
            a.agent_id,
            r.run_id,
            r.fetched_at AS observed_at,
            x.last_seen,
            x.last_command_execution_at
           FROM ((((defender_storage.sync_run r
             JOIN defender_storage.tenants rt ON ((rt.tenant_no = r.tenant_no)))
             CROSS JOIN LATERAL ( SELECT o_1.agent_nos,
                    o_1.last_seen,
                    o_1.last_command_execution_at
                   FROM defender_storage.observation o_1
                  WHERE ((o_1.run_id = r.run_id) AND (o_1.observed_at = r.fetched_at))
                 LIMIT 1) o)
             CROSS JOIN LATERAL UNNEST(o.agent_nos, o.last_seen, o.last_command_execution_at) x(agent_no, last_seen, last_command_execution_at))
             JOIN defender_storage.agent_state a ON (((a.tenant_id = rt.tenant_id) AND (a.agent_no = x.agent_no))))
          WHERE ((r.resource = 'a'::"char") AND (r.status = 's'::"char"))) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

COMMENT ON VIEW defender.scan_agent_observations IS 'What each sync saw of an agent''s volatile timestamps: one row per agent per sync in which last_seen or last_command_execution_at changed. Use it for lastSeen trends and gaps; filter on agent_id or tenant_id and observed_at. Kept for OBSERVATION_RETENTION (default: forever); older trends are in scan_agent_daily.';

COMMENT ON COLUMN defender.scan_agent_observations.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';

COMMENT ON COLUMN defender.scan_agent_observations.agent_id IS 'Defender id of the scan agent.';

COMMENT ON COLUMN defender.scan_agent_observations.run_id IS 'The sync run that made the observation.';

COMMENT ON COLUMN defender.scan_agent_observations.observed_at IS 'Fetch time of that sync.';

COMMENT ON COLUMN defender.scan_agent_observations.last_seen IS 'The agent''s last check-in time as that sync saw it.';

COMMENT ON COLUMN defender.scan_agent_observations.last_command_execution_at IS 'The scanner''s last command time as that sync saw it.';

-- defender.scan_agents

CREATE VIEW defender.scan_agents WITH (security_barrier='true') AS
 SELECT v.tenant_id,
    v.agent_id,
    v.machine_id,
    v.computer_dns_name,
    v.assigned_application_id,
    v.scanner_software_version,
    v.mde_client_version,
    v.last_seen,
    v.last_command_execution_at,
    v.extra,
    v.first_seen_at,
    v.last_synced_at,
    v.deleted_at
   FROM ( SELECT a.tenant_id,
            a.agent_id,
            a.machine_id,
            a.computer_dns_name,
            a.assigned_application_id,
            a.scanner_software_version,
            a.mde_client_version,
            hb.last_seen,
            hb.last_command_execution_at,
            a.extra,
            a.first_seen_at,
                CASE
                    WHEN ((a.deleted_at IS NULL) AND (NOT (t.last_run_withheld AND (EXISTS ( SELECT
                       FROM defender_storage.withheld_deletions w
                      WHERE ((w.agent_key = a.agent_key) AND (w.run_id = t.last_run_id))))))) THEN t.last_fetched_at
                    ELSE ( SELECT r.fetched_at
                       FROM defender_storage.sync_run r
                      WHERE ((r.tenant_no = (SELECT tn.tenant_no FROM defender_storage.tenants tn WHERE tn.tenant_id = a.tenant_id)) AND (r.resource = 'a'::"char") AND (r.status = 's'::"char") AND (r.run_id < COALESCE(a.deleted_by_run_id, '9223372036854775807'::bigint)) AND (r.fetched_at < COALESCE(( SELECT dr.fetched_at FROM defender_storage.sync_run dr WHERE (dr.run_id = a.deleted_by_run_id)), 'infinity'::timestamp with time zone)) AND (NOT (EXISTS ( SELECT
                               FROM defender_storage.withheld_deletions w
                              WHERE ((w.agent_key = a.agent_key) AND (w.run_id = r.run_id))))))
                      ORDER BY r.fetched_at DESC
                     LIMIT 1)
                END AS last_synced_at,
            a.deleted_at
           FROM ((defender_storage.agent_state a
             LEFT JOIN defender_storage.agent_heartbeat hb ON ((hb.agent_key = a.agent_key)))
             LEFT JOIN ( SELECT t_1.tenant_id,
                    t_1.last_run_id,
                    t_1.last_fetched_at,
                    (EXISTS ( SELECT
                           FROM defender_storage.withheld_deletions w
                          WHERE (w.run_id = t_1.last_run_id))) AS last_run_withheld
                   FROM defender_storage.tenants t_1) t ON ((t.tenant_id = a.tenant_id)))) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

COMMENT ON VIEW defender.scan_agents IS 'One row per scan agent ever seen, with its current values. Active agents have an empty deleted_at.';

COMMENT ON COLUMN defender.scan_agents.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';

COMMENT ON COLUMN defender.scan_agents.agent_id IS 'Defender id of the scan agent (<guid>_<hash>).';

COMMENT ON COLUMN defender.scan_agents.machine_id IS 'Defender device id of the machine running the scanner.';

COMMENT ON COLUMN defender.scan_agents.computer_dns_name IS 'Host name of the machine running the scanner.';

COMMENT ON COLUMN defender.scan_agents.assigned_application_id IS 'Microsoft Entra application (client) id the scanner runs as.';

COMMENT ON COLUMN defender.scan_agents.scanner_software_version IS 'Version of the scanner software, as reported.';

COMMENT ON COLUMN defender.scan_agents.mde_client_version IS 'Version of the Microsoft Defender for Endpoint client on the machine, as reported. Order with defender.version_key().';

COMMENT ON COLUMN defender.scan_agents.last_seen IS 'When the agent last checked in with Defender (UTC); empty if never.';

COMMENT ON COLUMN defender.scan_agents.last_command_execution_at IS 'When the scanner last ran a command (UTC); empty if never.';

COMMENT ON COLUMN defender.scan_agents.extra IS 'Fields the API sent that have no column of their own, with their names exactly as sent (JSON object).';

COMMENT ON COLUMN defender.scan_agents.first_seen_at IS 'Fetch time of the first sync that returned the agent.';

COMMENT ON COLUMN defender.scan_agents.last_synced_at IS 'Fetch time of the latest successful sync that returned the agent.';

COMMENT ON COLUMN defender.scan_agents.deleted_at IS 'When a complete sync first no longer returned the agent; empty while active, cleared if it returns.';

-- defender.scan_coverage

CREATE VIEW defender.scan_coverage WITH (security_barrier='true') AS
 SELECT v.tenant_id,
    v.definition_id,
    v.scan_name,
    v.scan_type,
    v.target,
    v.interval_hours,
    v.last_scan_at,
    v.last_status,
    v.last_outcome,
    v.last_success_at,
    v.last_failure_at,
    v.consecutive_failures,
    v.scanner_agent_id,
    v.scanner_host,
    v.scanner_last_seen,
    v.scanner_stale,
    v.scanner_deleted,
    v.as_of_run_id,
    v.as_of_fetched_at,
    v.history_run_id,
    v.history_fetched_at
   FROM ( SELECT d.tenant_id,
            d.definition_id,
            d.scan_name,
            d.scan_type,
            d.target,
            d.interval_hours,
            latest.scanned_at AS last_scan_at,
            latest.status AS last_status,
            defender.scan_outcome(latest.status) AS last_outcome,
            ok.scanned_at AS last_success_at,
            bad.scanned_at AS last_failure_at,
            ( SELECT (count(*))::integer AS count
                   FROM defender_storage.session_result s
                  WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at > COALESCE(streak.scanned_at, '-infinity'::timestamp with time zone)) AND (defender.scan_outcome(s.status) = 'failure'::text))) AS consecutive_failures,
            d.scanner_agent_id,
            a.computer_dns_name AS scanner_host,
            hb.last_seen AS scanner_last_seen,
                CASE
                    WHEN (a.agent_key IS NOT NULL) THEN ((hb.last_seen IS NULL) OR (hb.last_seen < (t.last_fetched_at - '7 days'::interval)))
                    ELSE NULL::boolean
                END AS scanner_stale,
                CASE
                    WHEN (a.agent_key IS NOT NULL) THEN (a.deleted_at IS NOT NULL)
                    ELSE NULL::boolean
                END AS scanner_deleted,
            dr.run_id AS as_of_run_id,
            dr.fetched_at AS as_of_fetched_at,
            hr.run_id AS history_run_id,
            hr.fetched_at AS history_fetched_at
           FROM (((((((((defender_storage.definition_state d
             LEFT JOIN defender_storage.tenants t ON ((t.tenant_id = d.tenant_id)))
             LEFT JOIN defender_storage.agent_state a ON (((a.tenant_id = d.tenant_id) AND (a.agent_id = d.scanner_agent_id))))
             LEFT JOIN defender_storage.agent_heartbeat hb ON ((hb.agent_key = a.agent_key)))
             LEFT JOIN LATERAL ( SELECT s.scanned_at,
                    s.status
                   FROM defender_storage.session_result s
                  WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL))
                  ORDER BY s.scanned_at DESC
                 LIMIT 1) latest ON (true))
             LEFT JOIN LATERAL ( SELECT s.scanned_at
                   FROM defender_storage.session_result s
                  WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL) AND (defender.scan_outcome(s.status) = 'success'::text))
                  ORDER BY s.scanned_at DESC
                 LIMIT 1) ok ON (true))
             LEFT JOIN LATERAL ( SELECT s.scanned_at
                   FROM defender_storage.session_result s
                  WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL) AND (defender.scan_outcome(s.status) = 'failure'::text))
                  ORDER BY s.scanned_at DESC
                 LIMIT 1) bad ON (true))
             LEFT JOIN LATERAL ( SELECT s.scanned_at
                   FROM defender_storage.session_result s
                  WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL) AND (defender.scan_outcome(s.status) = ANY (ARRAY['success'::text, 'partial'::text])))
                  ORDER BY s.scanned_at DESC
                 LIMIT 1) streak ON (true))
             LEFT JOIN LATERAL ( SELECT r.run_id,
                    r.fetched_at
                   FROM defender_storage.sync_run r
                  WHERE ((r.tenant_no = (SELECT tn.tenant_no FROM defender_storage.tenants tn WHERE tn.tenant_id = d.tenant_id)) AND (r.resource = 'd'::"char") AND (r.status = 's'::"char"))
                  ORDER BY r.fetched_at DESC
                 LIMIT 1) dr ON (true))
             LEFT JOIN LATERAL ( SELECT r.run_id,
                    r.fetched_at
                   FROM defender_storage.sync_run r
                  WHERE ((r.tenant_no = (SELECT tn.tenant_no FROM defender_storage.tenants tn WHERE tn.tenant_id = d.tenant_id)) AND (r.resource = 'h'::"char") AND (r.status = 's'::"char"))
                  ORDER BY r.fetched_at DESC
                 LIMIT 1) hr ON (true))
          WHERE ((d.deleted_at IS NULL) AND d.is_active)) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

COMMENT ON VIEW defender.scan_coverage IS 'One row per active scan definition (listed and switched on): when it last ran, last succeeded and last failed, how many runs in a row failed, and its scanner agent with whether that agent is stale or deleted. An auditor''s first question: which scans are not doing their job.';

COMMENT ON COLUMN defender.scan_coverage.tenant_id IS 'Microsoft Entra tenant.';

COMMENT ON COLUMN defender.scan_coverage.definition_id IS 'Defender id of the scan definition.';

COMMENT ON COLUMN defender.scan_coverage.scan_name IS 'Display name of the scan.';

COMMENT ON COLUMN defender.scan_coverage.scan_type IS 'Kind of scan.';

COMMENT ON COLUMN defender.scan_coverage.target IS 'What the scan covers, as sent.';

COMMENT ON COLUMN defender.scan_coverage.interval_hours IS 'Hours between runs.';

COMMENT ON COLUMN defender.scan_coverage.last_scan_at IS 'When its latest recorded session ran; empty if none is recorded.';

COMMENT ON COLUMN defender.scan_coverage.last_status IS 'That session''s status, as sent.';

COMMENT ON COLUMN defender.scan_coverage.last_outcome IS 'last_status read by defender.scan_outcome: success, partial or failure.';

COMMENT ON COLUMN defender.scan_coverage.last_success_at IS 'When its latest fully successful session ran; empty if none.';

COMMENT ON COLUMN defender.scan_coverage.last_failure_at IS 'When its latest failed session ran; empty if none.';

COMMENT ON COLUMN defender.scan_coverage.consecutive_failures IS 'Failed sessions since its latest successful or partly successful one (all of them if none): 0 when the latest run did not fail.';

COMMENT ON COLUMN defender.scan_coverage.scanner_agent_id IS 'The scan agent that runs it (scan_agents.agent_id).';

COMMENT ON COLUMN defender.scan_coverage.scanner_host IS 'Host name of that agent''s machine; empty when the agent is unknown.';

COMMENT ON COLUMN defender.scan_coverage.scanner_last_seen IS 'When that agent last checked in.';

COMMENT ON COLUMN defender.scan_coverage.scanner_stale IS 'True when that agent has not checked in for 7 days before the tenant''s latest agents sync (or never); empty when the agent is not in scan_agents.';

COMMENT ON COLUMN defender.scan_coverage.scanner_deleted IS 'True when that agent is marked deleted in scan_agents; empty when it is not there at all.';

COMMENT ON COLUMN defender.scan_coverage.as_of_run_id IS 'The latest successful definitions sync of the tenant, which the definition''s values come from.';

COMMENT ON COLUMN defender.scan_coverage.as_of_fetched_at IS 'Fetch time of that sync.';

COMMENT ON COLUMN defender.scan_coverage.history_run_id IS 'The latest successful history sync of the tenant: sessions recorded up to it are counted.';

COMMENT ON COLUMN defender.scan_coverage.history_fetched_at IS 'Fetch time of that sync.';

-- defender.scan_definition_changes

CREATE VIEW defender.scan_definition_changes WITH (security_barrier='true') AS
 SELECT v.tenant_id,
    v.definition_id,
    v.changed_at,
    v.attribute,
    v.old_value,
    v.new_value,
    v.run_id,
    v.previous_sync_at
   FROM ( SELECT d.tenant_id,
            d.definition_id,
            v_1.valid_from AS changed_at,
            c.attribute,
            c.old_value,
            c.new_value,
            v_1.opened_by_run_id AS run_id,
            r.previous_sync_at
           FROM ((((defender_storage.definition_version v_1
             JOIN defender_storage.definition_state d ON ((d.definition_key = v_1.definition_key)))
             JOIN LATERAL ( SELECT p_1.version_id,
                    p_1.definition_key,
                    p_1.scan_name,
                    p_1.scan_type,
                    p_1.is_active,
                    p_1.interval_hours,
                    p_1.target,
                    p_1.target_type,
                    p_1.scanner_agent_id,
                    p_1.auth_variant,
                    p_1.auth_type,
                    p_1.created_by,
                    p_1.extra,
                    p_1.valid_from,
                    p_1.valid_to,
                    p_1.opened_by_run_id,
                    p_1.closed_by_run_id
                   FROM defender_storage.definition_version p_1
                  WHERE ((p_1.definition_key = v_1.definition_key) AND (p_1.valid_from < v_1.valid_from))
                  ORDER BY p_1.valid_from DESC
                 LIMIT 1) p ON (true))
             CROSS JOIN LATERAL ( VALUES ('scan_name'::text,p.scan_name,v_1.scan_name), ('scan_type'::text,p.scan_type,v_1.scan_type), ('is_active'::text,(p.is_active)::text,(v_1.is_active)::text), ('interval_hours'::text,(p.interval_hours)::text,(v_1.interval_hours)::text), ('target'::text,p.target,v_1.target), ('target_type'::text,p.target_type,v_1.target_type), ('scanner_agent_id'::text,p.scanner_agent_id,v_1.scanner_agent_id), ('auth_variant'::text,p.auth_variant,v_1.auth_variant), ('auth_type'::text,p.auth_type,v_1.auth_type), ('created_by'::text,p.created_by,v_1.created_by)) c(attribute, old_value, new_value))
             JOIN defender_storage.sync_run r ON ((r.run_id = v_1.opened_by_run_id)))
          WHERE (c.old_value IS DISTINCT FROM c.new_value)
        UNION ALL
         SELECT d.tenant_id,
            d.definition_id,
            v_1.valid_from AS changed_at,
            ('extra.'::text || k.key) AS attribute,
            ((p.extra -> k.key) #>> '{}'::text[]) AS old_value,
            ((v_1.extra -> k.key) #>> '{}'::text[]) AS new_value,
            v_1.opened_by_run_id AS run_id,
            r.previous_sync_at
           FROM ((((defender_storage.definition_version v_1
             JOIN defender_storage.definition_state d ON ((d.definition_key = v_1.definition_key)))
             JOIN LATERAL ( SELECT p_1.extra
                   FROM defender_storage.definition_version p_1
                  WHERE ((p_1.definition_key = v_1.definition_key) AND (p_1.valid_from < v_1.valid_from))
                  ORDER BY p_1.valid_from DESC
                 LIMIT 1) p ON (true))
             CROSS JOIN LATERAL ( SELECT jsonb_object_keys(p.extra) AS jsonb_object_keys
                UNION
                 SELECT jsonb_object_keys(v_1.extra) AS jsonb_object_keys) k(key))
             JOIN defender_storage.sync_run r ON ((r.run_id = v_1.opened_by_run_id)))
          WHERE ((p.extra IS DISTINCT FROM v_1.extra) AND ((p.extra -> k.key) IS DISTINCT FROM (v_1.extra -> k.key)))
        UNION ALL
         SELECT d.tenant_id,
            d.definition_id,
            v_1.valid_from AS changed_at,
            'definition'::text AS attribute,
                CASE
                    WHEN (p.valid_to IS NOT NULL) THEN 'deleted'::text
                    ELSE NULL::text
                END AS old_value,
                CASE
                    WHEN (p.valid_to IS NOT NULL) THEN 'returned'::text
                    ELSE 'first seen'::text
                END AS new_value,
            v_1.opened_by_run_id AS run_id,
            r.previous_sync_at
           FROM (((defender_storage.definition_version v_1
             JOIN defender_storage.definition_state d ON ((d.definition_key = v_1.definition_key)))
             LEFT JOIN LATERAL ( SELECT p_1.valid_to
                   FROM defender_storage.definition_version p_1
                  WHERE ((p_1.definition_key = v_1.definition_key) AND (p_1.valid_from < v_1.valid_from))
                  ORDER BY p_1.valid_from DESC
                 LIMIT 1) p ON (true))
             JOIN defender_storage.sync_run r ON ((r.run_id = v_1.opened_by_run_id)))
          WHERE ((p.valid_to IS NULL) OR (p.valid_to < v_1.valid_from))
        UNION ALL
         SELECT d.tenant_id,
            d.definition_id,
            v_1.valid_to AS changed_at,
            'definition'::text AS attribute,
            'listed'::text AS old_value,
            'deleted'::text AS new_value,
            v_1.closed_by_run_id AS run_id,
            r.previous_sync_at
           FROM ((defender_storage.definition_version v_1
             JOIN defender_storage.definition_state d ON ((d.definition_key = v_1.definition_key)))
             JOIN defender_storage.sync_run r ON ((r.run_id = v_1.closed_by_run_id)))
          WHERE ((v_1.valid_to IS NOT NULL) AND (NOT (EXISTS ( SELECT
                   FROM defender_storage.definition_version n
                  WHERE ((n.definition_key = v_1.definition_key) AND (n.valid_from = v_1.valid_to))))))) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

COMMENT ON VIEW defender.scan_definition_changes IS 'One row per changed attribute of a scan definition, from its history: edits of its name, interval, target, scanner agent (a scan moved to another agent), activation, authentication kind, fields without a column (attribute extra.<name>), and the definition itself being first seen, deleted or returning (attribute definition).';

COMMENT ON COLUMN defender.scan_definition_changes.tenant_id IS 'Microsoft Entra tenant the definition belongs to.';

COMMENT ON COLUMN defender.scan_definition_changes.definition_id IS 'Defender id of the scan definition.';

COMMENT ON COLUMN defender.scan_definition_changes.changed_at IS 'Fetch time of the sync that saw the change.';

COMMENT ON COLUMN defender.scan_definition_changes.attribute IS 'What changed: a column name of scan_definitions, extra.<field name as sent>, or definition (first seen, deleted, returned).';

COMMENT ON COLUMN defender.scan_definition_changes.old_value IS 'Value before the change, as text; empty if there was none.';

COMMENT ON COLUMN defender.scan_definition_changes.new_value IS 'Value after the change, as text; empty if there is none.';

COMMENT ON COLUMN defender.scan_definition_changes.run_id IS 'The sync run that saw the change.';

COMMENT ON COLUMN defender.scan_definition_changes.previous_sync_at IS 'Fetch time of the previous successful definitions sync of the tenant: the change happened in (previous_sync_at, changed_at]. Empty for changes seen by the first.';

-- defender.scan_definitions

CREATE VIEW defender.scan_definitions WITH (security_barrier='true') AS
 SELECT v.tenant_id,
    v.definition_id,
    v.scan_name,
    v.scan_type,
    v.is_active,
    v.interval_hours,
    v.target,
    v.target_type,
    v.scanner_agent_id,
    v.auth_variant,
    v.auth_type,
    v.created_by,
    v.extra,
    v.first_seen_at,
    v.last_synced_at,
    v.as_of_run_id,
    v.deleted_at
   FROM ( SELECT d.tenant_id,
            d.definition_id,
            d.scan_name,
            d.scan_type,
            d.is_active,
            d.interval_hours,
            d.target,
            d.target_type,
            d.scanner_agent_id,
            d.auth_variant,
            d.auth_type,
            d.created_by,
            d.extra,
            d.first_seen_at,
            r.fetched_at AS last_synced_at,
            r.run_id AS as_of_run_id,
            d.deleted_at
           FROM (defender_storage.definition_state d
             LEFT JOIN LATERAL ( SELECT r_1.run_id,
                    r_1.fetched_at
                   FROM defender_storage.sync_run r_1
                  WHERE ((r_1.tenant_no = (SELECT tn.tenant_no FROM defender_storage.tenants tn WHERE tn.tenant_id = d.tenant_id)) AND (r_1.resource = 'd'::"char") AND (r_1.status = 's'::"char") AND (r_1.fetched_at < COALESCE(d.deleted_at, 'infinity'::timestamp with time zone)) AND (NOT (EXISTS ( SELECT
                           FROM defender_storage.definition_withheld w
                          WHERE ((w.definition_key = d.definition_key) AND (w.run_id = r_1.run_id))))))
                  ORDER BY r_1.fetched_at DESC
                 LIMIT 1) r ON (true))) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

COMMENT ON VIEW defender.scan_definitions IS 'One row per scan definition ever seen, with its current values: which scans each agent runs. Listed definitions have an empty deleted_at. No credential is stored: of the authentication only auth_variant and auth_type.';

COMMENT ON COLUMN defender.scan_definitions.tenant_id IS 'Microsoft Entra tenant the definition belongs to.';

COMMENT ON COLUMN defender.scan_definitions.definition_id IS 'Defender id of the scan definition.';

COMMENT ON COLUMN defender.scan_definitions.scan_name IS 'Display name of the scan.';

COMMENT ON COLUMN defender.scan_definitions.scan_type IS 'Kind of scan: Network, Windows (retired), Linux, AdvancedActive, as sent.';

COMMENT ON COLUMN defender.scan_definitions.is_active IS 'Whether the scan is switched on; empty when not sent.';

COMMENT ON COLUMN defender.scan_definitions.interval_hours IS 'Hours between runs; empty when not sent.';

COMMENT ON COLUMN defender.scan_definitions.target IS 'What the scan covers: IP addresses, ranges or host names, comma-separated, as sent.';

COMMENT ON COLUMN defender.scan_definitions.target_type IS 'How to read target: Ip, Hostname or Combined.';

COMMENT ON COLUMN defender.scan_definitions.scanner_agent_id IS 'The scan agent that runs the scan: joins scan_agents.agent_id.';

COMMENT ON COLUMN defender.scan_definitions.auth_variant IS 'Kind of credentials the scan uses (SnmpAuthParams, WindowsAuthParams, LinuxAuthParams).';

COMMENT ON COLUMN defender.scan_definitions.auth_type IS 'Authentication type within the variant (CommunityString, AuthPriv, Kerberos, PrivateKey...).';

COMMENT ON COLUMN defender.scan_definitions.created_by IS 'Identity that created the definition.';

COMMENT ON COLUMN defender.scan_definitions.extra IS 'Fields the API sent that have no column of their own, with their names exactly as sent (JSON object).';

COMMENT ON COLUMN defender.scan_definitions.first_seen_at IS 'Fetch time of the first definitions sync that returned it.';

COMMENT ON COLUMN defender.scan_definitions.last_synced_at IS 'Fetch time of the latest successful definitions sync that returned it: the sync these values come from.';

COMMENT ON COLUMN defender.scan_definitions.as_of_run_id IS 'That sync run.';

COMMENT ON COLUMN defender.scan_definitions.deleted_at IS 'When a complete sync first no longer returned it; empty while listed, cleared if it returns.';

-- defender.tenant_sync_status

CREATE VIEW defender.tenant_sync_status WITH (security_barrier='true') AS
 SELECT v.tenant_id,
    v.tenant_name,
    v.latest_status,
    v.latest_run_id,
    v.latest_finished_at,
    v.last_success_run_id,
    v.last_success_at,
    v.last_failure_run_id,
    v.last_failure_at,
    v.last_failure_error,
    v.active_agents,
    v.stale_7d_agents,
    v.deletions_withheld,
    v.running_since
   FROM ( SELECT t.tenant_id,
            t.display_name AS tenant_name,
            latest.status AS latest_status,
            latest.run_id AS latest_run_id,
            latest.finished_at AS latest_finished_at,
            t.last_run_id AS last_success_run_id,
            t.last_fetched_at AS last_success_at,
            failure.run_id AS last_failure_run_id,
            failure.finished_at AS last_failure_at,
            failure.error AS last_failure_error,
            COALESCE(fleet.active_agents, 0) AS active_agents,
            COALESCE(fleet.stale_7d_agents, 0) AS stale_7d_agents,
            COALESCE(success.deletions_withheld, 0) AS deletions_withheld,
            running.started_at AS running_since
           FROM (((((defender_storage.tenants t
             LEFT JOIN LATERAL ( SELECT f.run_id,
                    CASE f.status WHEN 's'::"char" THEN 'succeeded'::text WHEN 'f'::"char" THEN 'failed'::text END AS status,
                    f.finished_at
                   FROM ( ( SELECT r.run_id, r.status, r.finished_at
                           FROM defender_storage.sync_run r
                          WHERE ((r.tenant_no = t.tenant_no) AND (r.resource = 'a'::"char") AND (r.status = 's'::"char"))
                          ORDER BY r.fetched_at DESC
                         LIMIT 1)
                        UNION ALL
                        ( SELECT r.run_id, r.status, r.finished_at
                           FROM defender_storage.sync_run r
                          WHERE ((r.tenant_no = t.tenant_no) AND (r.resource = 'a'::"char") AND (r.status = 'f'::"char"))
                          ORDER BY r.run_id DESC
                         LIMIT 1)) f
                  ORDER BY f.run_id DESC
                 LIMIT 1) latest ON (true))
             LEFT JOIN LATERAL ( SELECT r.run_id,
                    r.finished_at,
                    NULLIF(r.error, ''::text) AS error
                   FROM defender_storage.sync_run r
                  WHERE ((r.tenant_no = t.tenant_no) AND (r.resource = 'a'::"char") AND (r.status = 'f'::"char"))
                  ORDER BY r.run_id DESC
                 LIMIT 1) failure ON (true))
             LEFT JOIN defender_storage.sync_run success ON ((success.run_id = t.last_run_id)))
             LEFT JOIN defender_storage.sync_run running ON (((running.tenant_no = t.tenant_no) AND (running.resource = 'a'::"char") AND (running.status = 'r'::"char"))))
             LEFT JOIN defender_storage.tenant_daily fleet ON (((fleet.tenant_id = t.tenant_id) AND (fleet.day = defender.utc_day(t.last_fetched_at)))))) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

COMMENT ON VIEW defender.tenant_sync_status IS 'One row per tenant ever synced: how its latest sync of scan agents ended, its latest success and failure, and its fleet as the latest success saw it.';

COMMENT ON COLUMN defender.tenant_sync_status.tenant_id IS 'Microsoft Entra tenant.';

COMMENT ON COLUMN defender.tenant_sync_status.tenant_name IS 'Display name of the tenant from the configuration; empty when none.';

COMMENT ON COLUMN defender.tenant_sync_status.latest_status IS 'How the tenant''s latest finished sync ended: succeeded or failed; empty before the first.';

COMMENT ON COLUMN defender.tenant_sync_status.latest_run_id IS 'That sync.';

COMMENT ON COLUMN defender.tenant_sync_status.latest_finished_at IS 'When it ended.';

COMMENT ON COLUMN defender.tenant_sync_status.last_success_run_id IS 'The tenant''s latest successful sync; empty before the first.';

COMMENT ON COLUMN defender.tenant_sync_status.last_success_at IS 'Fetch time of that sync.';

COMMENT ON COLUMN defender.tenant_sync_status.last_failure_run_id IS 'The tenant''s latest failed sync; empty when none failed.';

COMMENT ON COLUMN defender.tenant_sync_status.last_failure_at IS 'When it ended.';

COMMENT ON COLUMN defender.tenant_sync_status.last_failure_error IS 'Why it failed.';

COMMENT ON COLUMN defender.tenant_sync_status.active_agents IS 'Agents active at the latest successful sync.';

COMMENT ON COLUMN defender.tenant_sync_status.stale_7d_agents IS 'Of those, agents whose last_seen was 7 days or more before that sync.';

COMMENT ON COLUMN defender.tenant_sync_status.deletions_withheld IS 'Deletions the latest successful sync withheld (0 when none).';

COMMENT ON COLUMN defender.tenant_sync_status.running_since IS 'Start of the sync of the tenant running now, if any: past the sync timeout, it is stuck.';


-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.scan_agents_diff(from_at timestamp with time zone, to_at timestamp with time zone, tenant text, viewer name) RETURNS TABLE(tenant_id text, agent_id text, change text, changed_columns text[], old_machine_id text, new_machine_id text, old_computer_dns_name text, new_computer_dns_name text, old_assigned_application_id text, new_assigned_application_id text, old_scanner_software_version text, new_scanner_software_version text, old_mde_client_version text, new_mde_client_version text, old_extra jsonb, new_extra jsonb, from_run_id bigint, from_fetched_at timestamp with time zone, to_run_id bigint, to_fetched_at timestamp with time zone)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    AS $$
#variable_conflict use_column
BEGIN
    IF from_at IS NULL OR to_at IS NULL THEN
        RAISE EXCEPTION 'scan_agents_diff: from and to must both be given'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF from_at > to_at THEN
        RAISE EXCEPTION 'scan_agents_diff: from (%) is after to (%)', from_at, to_at
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give the earlier time first.';
    END IF;
    RETURN QUERY
    WITH syncs AS MATERIALIZED (
        -- Per tenant, the sync each side reflects (none before its first).
        SELECT t.tenant_id, f.run_id AS from_run_id, f.fetched_at AS from_fetched_at,
               n.run_id AS to_run_id, n.fetched_at AS to_fetched_at
          FROM defender_storage.tenants t
          LEFT JOIN LATERAL (SELECT r.run_id, r.fetched_at FROM defender_storage.sync_run r
                              WHERE r.tenant_no = t.tenant_no AND r.resource = 'a' AND r.status = 's'
                                AND r.fetched_at <= scan_agents_diff.from_at
                              ORDER BY r.fetched_at DESC LIMIT 1) f ON true
          LEFT JOIN LATERAL (SELECT r.run_id, r.fetched_at FROM defender_storage.sync_run r
                              WHERE r.tenant_no = t.tenant_no AND r.resource = 'a' AND r.status = 's'
                                AND r.fetched_at <= scan_agents_diff.to_at
                              ORDER BY r.fetched_at DESC LIMIT 1) n ON true
         WHERE (scan_agents_diff.tenant IS NULL OR t.tenant_id = lower(scan_agents_diff.tenant))
           AND ((SELECT defender_storage.visible_tenants(scan_agents_diff.viewer)) IS NULL OR t.tenant_id = ANY ((SELECT defender_storage.visible_tenants(scan_agents_diff.viewer))::text[]))
    ), before_fleet AS MATERIALIZED (
        SELECT a.* FROM defender_storage.scan_agents_as_of(scan_agents_diff.from_at, scan_agents_diff.viewer, scan_agents_diff.tenant) a
         WHERE scan_agents_diff.tenant IS NULL OR a.tenant_id = lower(scan_agents_diff.tenant)
    ), after_fleet AS MATERIALIZED (
        SELECT a.* FROM defender_storage.scan_agents_as_of(scan_agents_diff.to_at, scan_agents_diff.viewer, scan_agents_diff.tenant) a
         WHERE scan_agents_diff.tenant IS NULL OR a.tenant_id = lower(scan_agents_diff.tenant)
    ), pairs AS (
        SELECT coalesce(o.tenant_id, n.tenant_id) AS tenant_id, coalesce(o.agent_id, n.agent_id) AS agent_id,
               o.agent_id IS NOT NULL AS was_there, n.agent_id IS NOT NULL AS is_there,
               o.machine_id AS old_machine_id, n.machine_id AS new_machine_id,
               o.computer_dns_name AS old_computer_dns_name, n.computer_dns_name AS new_computer_dns_name,
               o.assigned_application_id AS old_assigned_application_id,
               n.assigned_application_id AS new_assigned_application_id,
               o.scanner_software_version AS old_scanner_software_version,
               n.scanner_software_version AS new_scanner_software_version,
               o.mde_client_version AS old_mde_client_version, n.mde_client_version AS new_mde_client_version,
               o.extra AS old_extra, n.extra AS new_extra,
               array_remove(ARRAY[
                   CASE WHEN o.machine_id IS DISTINCT FROM n.machine_id THEN 'machine_id' END,
                   CASE WHEN o.computer_dns_name IS DISTINCT FROM n.computer_dns_name THEN 'computer_dns_name' END,
                   CASE WHEN o.assigned_application_id IS DISTINCT FROM n.assigned_application_id THEN 'assigned_application_id' END,
                   CASE WHEN o.scanner_software_version IS DISTINCT FROM n.scanner_software_version THEN 'scanner_software_version' END,
                   CASE WHEN o.mde_client_version IS DISTINCT FROM n.mde_client_version THEN 'mde_client_version' END,
                   CASE WHEN o.extra IS DISTINCT FROM n.extra THEN 'extra' END
               ], NULL) AS changed_columns
          FROM before_fleet o
          FULL JOIN after_fleet n ON n.tenant_id = o.tenant_id AND n.agent_id = o.agent_id
    )
    SELECT p.tenant_id, p.agent_id,
           CASE WHEN p.was_there AND p.is_there THEN 'changed'
                WHEN p.was_there THEN 'deleted'
                -- Absent at from but seen by a sync at or before it: back.
                WHEN EXISTS (SELECT FROM defender_storage.agent_state a
                              WHERE a.tenant_id = p.tenant_id AND a.agent_id = p.agent_id
                                AND a.first_seen_at <= s.from_fetched_at) THEN 'returned'
                ELSE 'appeared' END,
           CASE WHEN p.was_there AND p.is_there THEN p.changed_columns ELSE '{}'::text[] END,
           p.old_machine_id, p.new_machine_id, p.old_computer_dns_name, p.new_computer_dns_name,
           p.old_assigned_application_id, p.new_assigned_application_id,
           p.old_scanner_software_version, p.new_scanner_software_version,
           p.old_mde_client_version, p.new_mde_client_version, p.old_extra, p.new_extra,
           s.from_run_id, s.from_fetched_at, s.to_run_id, s.to_fetched_at
      FROM pairs p
      JOIN syncs s ON s.tenant_id = p.tenant_id
     WHERE NOT (p.was_there AND p.is_there) OR p.changed_columns <> '{}'
     ORDER BY p.tenant_id, p.agent_id;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.record_run_digest(run bigint, at_upgrade boolean DEFAULT false) RETURNS bytea
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    stored bytea;
BEGIN
    -- The sessions the run wrote, as it left them. At the upgrade every
    -- earlier writer is known, not the values it wrote: they are taken
    -- as they are now.
    INSERT INTO defender_storage.session_write (run_id, session_key, values_digest)
    SELECT run, s.session_key, defender_storage.session_digest(s)
      FROM defender_storage.session_result s
     WHERE (s.recorded_by_run_id = run AND (at_upgrade OR s.updated_by_run_id IS NULL))
        OR s.updated_by_run_id = run;
    INSERT INTO defender_storage.run_digest (run_id, previous_run_id, digest, parts, computed_at_upgrade)
    SELECT r.run_id, p.run_id, defender_storage.chain_digest(p.digest, x.parts), defender_storage.compact_digest_parts(x.parts), at_upgrade
      FROM defender_storage.sync_run r
     CROSS JOIN LATERAL (SELECT q.digest_parts AS parts FROM defender_storage.run_digest_parts(ARRAY[r.run_id]) q) x
      LEFT JOIN LATERAL (
           SELECT d.run_id, d.digest
             FROM defender_storage.sync_run q
             JOIN defender_storage.run_digest d ON d.run_id = q.run_id
            WHERE q.tenant_no = r.tenant_no AND q.resource = r.resource AND q.status = 's'
              AND q.fetched_at < r.fetched_at AND q.run_id < r.run_id
            ORDER BY q.fetched_at DESC
            LIMIT 1) p ON true
     WHERE r.run_id = run AND r.status = 's'
    RETURNING digest INTO stored;
    IF stored IS NULL THEN
        RAISE EXCEPTION 'run % is not a succeeded run: only successful runs have a digest', run;
    END IF;
    RETURN stored;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.run_digest_parts(runs bigint[]) RETURNS TABLE(digested_run_id bigint, digest_parts bytea)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
BEGIN
RETURN QUERY SELECT r.run_id,
    -- 1. The run: its row of sync_runs.
    pg_catalog.sha256(
        defender_storage.digest_field(r.run_id::text) || defender_storage.digest_field(r.tenant_id)
        || defender_storage.digest_field(r.resource) || defender_storage.digest_field(r.status)
        || defender_storage.digest_time(r.fetched_at)
        || defender_storage.digest_time(r.previous_sync_at)
        || defender_storage.digest_field(r.agents_seen::text) || defender_storage.digest_field(r.agents_inserted::text)
        || defender_storage.digest_field(r.agents_changed::text) || defender_storage.digest_field(r.agents_heartbeat_only::text)
        || defender_storage.digest_field(r.agents_unchanged::text) || defender_storage.digest_field(r.agents_deleted::text)
        || defender_storage.digest_field(r.agents_rejected::text) || defender_storage.digest_field(r.deletions_withheld::text)
        || defender_storage.digest_field(r.records_seen::text) || defender_storage.digest_field(r.records_inserted::text)
        || defender_storage.digest_field(r.records_changed::text) || defender_storage.digest_field(r.records_unchanged::text)
        || defender_storage.digest_field(r.records_deleted::text) || defender_storage.digest_field(r.records_rejected::text)
        || defender_storage.digest_field(r.targets_inserted::text) || defender_storage.digest_field(r.fields_repaired::text)
        || defender_storage.digest_field(r.api_requests::text))
    -- 2. The versions it opened (what later runs write of them, valid_to
    -- and closed_by_run_id, is theirs).
    || pg_catalog.sha256(coalesce((
        SELECT pg_catalog.string_agg(o.e, ''::bytea ORDER BY o.k COLLATE "C") FROM (
            SELECT h.agent_id AS k,
                   defender_storage.digest_field(h.tenant_id) || defender_storage.digest_field(h.agent_id)
                   || defender_storage.digest_field(h.machine_id) || defender_storage.digest_field(h.computer_dns_name)
                   || defender_storage.digest_field(h.assigned_application_id) || defender_storage.digest_field(h.scanner_software_version)
                   || defender_storage.digest_field(h.mde_client_version) || defender_storage.digest_field(h.extra::text)
                   || defender_storage.digest_time(h.valid_from) AS e
              FROM defender.scan_agent_history h
             WHERE h.opened_by_run_id = r.run_id
            UNION ALL
            SELECT s.definition_id,
                   defender_storage.digest_field(s.tenant_id) || defender_storage.digest_field(s.definition_id)
                   || defender_storage.digest_field(v.scan_name) || defender_storage.digest_field(v.scan_type)
                   || defender_storage.digest_field(v.is_active::text) || defender_storage.digest_field(v.interval_hours::text)
                   || defender_storage.digest_field(v.target) || defender_storage.digest_field(v.target_type)
                   || defender_storage.digest_field(v.scanner_agent_id) || defender_storage.digest_field(v.auth_variant)
                   || defender_storage.digest_field(v.auth_type) || defender_storage.digest_field(v.created_by)
                   || defender_storage.digest_field(v.extra::text)
                   || defender_storage.digest_time(v.valid_from)
              FROM defender_storage.definition_version v
              JOIN defender_storage.definition_state s ON s.definition_key = v.definition_key
             WHERE v.opened_by_run_id = r.run_id) o), ''::bytea))
    -- 3. The versions it closed.
    || pg_catalog.sha256(coalesce((
        SELECT pg_catalog.string_agg(c.e, ''::bytea ORDER BY c.k COLLATE "C") FROM (
            SELECT h.agent_id AS k,
                   defender_storage.digest_field(h.tenant_id) || defender_storage.digest_field(h.agent_id)
                   || defender_storage.digest_time(h.valid_from)
                   || defender_storage.digest_time(h.valid_to) AS e
              FROM defender.scan_agent_history h
             WHERE h.closed_by_run_id = r.run_id
            UNION ALL
            SELECT s.definition_id,
                   defender_storage.digest_field(s.tenant_id) || defender_storage.digest_field(s.definition_id)
                   || defender_storage.digest_time(v.valid_from)
                   || defender_storage.digest_time(v.valid_to)
              FROM defender_storage.definition_version v
              JOIN defender_storage.definition_state s ON s.definition_key = v.definition_key
             WHERE v.closed_by_run_id = r.run_id) c), ''::bytea))
    -- 4. Its deletions: the records it marked deleted, and those whose
    -- version it closed without opening another (a deletion, as the
    -- history keeps it). Each is 'deleted' while it is marked deleted by
    -- this run at its fetch time, or has returned since (a later version
    -- opened, which clears the mark); else 'not deleted'.
    || pg_catalog.sha256(coalesce((
        SELECT pg_catalog.string_agg(d.e, ''::bytea ORDER BY d.k COLLATE "C") FROM (
            SELECT a.agent_id AS k,
                   defender_storage.digest_field(a.tenant_id) || defender_storage.digest_field(a.agent_id)
                   || defender_storage.digest_field(CASE
                          WHEN a.deleted_by_run_id = r.run_id AND a.deleted_at = r.fetched_at THEN 'deleted'
                          WHEN a.deleted_by_run_id IS DISTINCT FROM r.run_id
                           AND EXISTS (SELECT FROM defender.scan_agent_history l
                                        WHERE l.agent_key = a.agent_key AND l.valid_from > r.fetched_at) THEN 'deleted'
                          ELSE 'not deleted' END) AS e
              FROM (SELECT x.agent_key FROM defender_storage.agent_state x WHERE x.deleted_by_run_id = r.run_id
                    UNION
                    SELECT c.agent_key FROM defender.scan_agent_history c
                     WHERE c.closed_by_run_id = r.run_id
                       AND NOT EXISTS (SELECT FROM defender.scan_agent_history n
                                        WHERE n.agent_key = c.agent_key AND n.opened_by_run_id = r.run_id)) k
              JOIN defender_storage.agent_state a ON a.agent_key = k.agent_key
            UNION ALL
            SELECT s.definition_id,
                   defender_storage.digest_field(s.tenant_id) || defender_storage.digest_field(s.definition_id)
                   || defender_storage.digest_field(CASE
                          WHEN s.deleted_by_run_id = r.run_id AND s.deleted_at = r.fetched_at THEN 'deleted'
                          WHEN s.deleted_by_run_id IS DISTINCT FROM r.run_id
                           AND EXISTS (SELECT FROM defender_storage.definition_version l
                                        WHERE l.definition_key = s.definition_key AND l.valid_from > r.fetched_at) THEN 'deleted'
                          ELSE 'not deleted' END)
              FROM (SELECT x.definition_key FROM defender_storage.definition_state x WHERE x.deleted_by_run_id = r.run_id
                    UNION
                    SELECT c.definition_key FROM defender_storage.definition_version c
                     WHERE c.closed_by_run_id = r.run_id
                       AND NOT EXISTS (SELECT FROM defender_storage.definition_version n
                                        WHERE n.definition_key = c.definition_key AND n.opened_by_run_id = r.run_id)) k
              JOIN defender_storage.definition_state s ON s.definition_key = k.definition_key) d), ''::bytea))
    -- 5. The deletions it withheld.
    || pg_catalog.sha256(coalesce((
        SELECT pg_catalog.string_agg(w.e, ''::bytea ORDER BY w.k COLLATE "C") FROM (
            SELECT a.agent_id AS k, defender_storage.digest_field(a.tenant_id) || defender_storage.digest_field(a.agent_id) AS e
              FROM defender_storage.withheld_deletions x
              JOIN defender_storage.agent_state a ON a.agent_key = x.agent_key
             WHERE x.run_id = r.run_id
            UNION ALL
            SELECT s.definition_id, defender_storage.digest_field(s.tenant_id) || defender_storage.digest_field(s.definition_id)
              FROM defender_storage.definition_withheld x
              JOIN defender_storage.definition_state s ON s.definition_key = x.definition_key
             WHERE x.run_id = r.run_id) w), ''::bytea))
    -- 6. Its observations: the row of its tenant at its fetch time, one
    -- entry per agent.
    || pg_catalog.sha256(coalesce((
        SELECT pg_catalog.string_agg(
                   defender_storage.digest_field(a.agent_id)
                   || defender_storage.digest_time(x.last_seen)
                   || defender_storage.digest_time(x.last_command_execution_at),
                   ''::bytea ORDER BY a.agent_id COLLATE "C")
          FROM defender_storage.observation o
         CROSS JOIN LATERAL unnest(o.agent_nos, o.last_seen, o.last_command_execution_at)
               x(agent_no, last_seen, last_command_execution_at)
          LEFT JOIN defender_storage.agent_state a ON a.tenant_id = r.tenant_id AND a.agent_no = x.agent_no
         WHERE o.run_id = r.run_id AND o.observed_at = r.fetched_at), ''::bytea))
    -- 7. Its writes of sessions: the values it wrote, from the session
    -- while it is the latest writer, else as kept when it wrote them.
    || pg_catalog.sha256(coalesce((
        SELECT pg_catalog.string_agg(
                   defender_storage.digest_field(w.session_key::text)
                   || defender_storage.digest_field(CASE WHEN s.recorded_by_run_id = w.run_id THEN 'recorded' ELSE 'updated' END)
                   || defender_storage.digest_field(pg_catalog.encode(
                          CASE WHEN coalesce(s.updated_by_run_id, s.recorded_by_run_id) = w.run_id
                               THEN defender_storage.session_digest(s) ELSE w.values_digest END, 'hex')),
                   ''::bytea ORDER BY w.session_key)
          FROM defender_storage.session_write w
          JOIN defender_storage.session_result s ON s.session_key = w.session_key
         WHERE w.run_id = r.run_id), ''::bytea))
    -- 8. The targets of the sessions whose targets it stored.
    || pg_catalog.sha256(coalesce((
        SELECT pg_catalog.string_agg(
                   defender_storage.digest_field(t.session_key::text) || defender_storage.digest_field(t.ordinal::text)
                   || defender_storage.digest_field(t.ip) || defender_storage.digest_field(t.hostname)
                   || defender_storage.digest_field(t.description) || defender_storage.digest_field(t.status)
                   || defender_storage.digest_field(t.error_message)
                   || defender_storage.digest_field((EXTRACT(epoch FROM t.duration) * 1000000)::bigint::text)
                   || defender_storage.digest_field(t.extra::text),
                   ''::bytea ORDER BY t.session_key, t.ordinal)
          FROM defender_storage.session_result s
          -- Each session's targets by its key (the fence keeps the
          -- generic plan from hashing every target of every tenant).
         CROSS JOIN LATERAL (SELECT t1.* FROM defender_storage.target_result t1
                              WHERE t1.session_key = s.session_key OFFSET 0) t
         WHERE s.targets_run_id = r.run_id), ''::bytea))
  -- The runs as defender.sync_runs shows them, read from their storage.
  FROM (SELECT rs.run_id, rt.tenant_id, rs.fetched_at, rs.previous_sync_at,
               CASE rs.resource WHEN 'a' THEN 'agents' WHEN 'd' THEN 'definitions' WHEN 'h' THEN 'history' END AS resource,
               CASE rs.status WHEN 'r' THEN 'running' WHEN 's' THEN 'succeeded' WHEN 'f' THEN 'failed' END AS status,
               CASE WHEN rs.resource = 'a' THEN rs.records_seen ELSE 0 END AS agents_seen,
               CASE WHEN rs.resource = 'a' THEN rs.records_inserted ELSE 0 END AS agents_inserted,
               CASE WHEN rs.resource = 'a' THEN rs.records_changed ELSE 0 END AS agents_changed,
               rs.heartbeat_only AS agents_heartbeat_only,
               CASE WHEN rs.resource = 'a' THEN rs.records_unchanged ELSE 0 END AS agents_unchanged,
               CASE WHEN rs.resource = 'a' THEN rs.records_deleted ELSE 0 END AS agents_deleted,
               CASE WHEN rs.resource = 'a' THEN rs.records_rejected ELSE 0 END AS agents_rejected,
               rs.deletions_withheld, rs.records_seen, rs.records_inserted, rs.records_changed, rs.records_unchanged,
               rs.records_deleted, rs.records_rejected, rs.targets_inserted, rs.fields_repaired, rs.api_requests
          FROM defender_storage.sync_run rs
          JOIN defender_storage.tenants rt ON rt.tenant_no = rs.tenant_no
         WHERE rs.run_id = ANY (runs)) r;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.check_observed_agents() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    tenant text;
    found  integer;
BEGIN
    IF TG_TABLE_NAME = 'agent_state' THEN
        -- An agent removed or renumbered while an observation names it.
        IF EXISTS (SELECT FROM defender_storage.tenants t
                     JOIN defender_storage.sync_run r ON r.tenant_no = t.tenant_no
                     JOIN defender_storage.observation o ON o.run_id = r.run_id
                    WHERE t.tenant_id = OLD.tenant_id AND r.resource = 'a'
                      AND OLD.agent_no = ANY (o.agent_nos)) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'foreign_key_violation',
                MESSAGE = 'update or delete on table "agent_state" violates constraint "observation_agents_exist"',
                DETAIL = pg_catalog.format('Agent %s of tenant %s is still named by observations.', OLD.agent_no, OLD.tenant_id),
                TABLE = 'agent_state', SCHEMA = 'defender_storage', CONSTRAINT = 'observation_agents_exist';
        END IF;
        RETURN NULL;
    END IF;
    -- A row of observation (of one of its partitions): every number names
    -- an agent of its run's tenant, locked against removal until the
    -- transaction ends, as a foreign key's check does.
    SELECT t.tenant_id INTO tenant
      FROM defender_storage.sync_run r JOIN defender_storage.tenants t ON t.tenant_no = r.tenant_no
     WHERE r.run_id = NEW.run_id;
    SELECT count(*) INTO found FROM (
        SELECT FROM defender_storage.agent_state a
         WHERE a.tenant_id = tenant AND a.agent_no = ANY (NEW.agent_nos)
           FOR KEY SHARE OF a) k;
    IF found <> pg_catalog.cardinality(NEW.agent_nos) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'foreign_key_violation',
            MESSAGE = 'insert or update on table "observation" violates constraint "observation_agents_exist"',
            DETAIL = pg_catalog.format('%s of the agent numbers %s of run %s are not agents of tenant %s.',
                                       pg_catalog.cardinality(NEW.agent_nos) - found, NEW.agent_nos, NEW.run_id, tenant),
            TABLE = 'observation', SCHEMA = 'defender_storage', CONSTRAINT = 'observation_agents_exist';
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- Run digests smaller: the digest itself is unchanged (SHA-256 of the
-- previous digest and of the eight parts' SHA-256, 256 bytes), but of the
-- parts only what verify needs is kept: the first 4 bytes of each, enough
-- to name the part that no longer matches, and the observations' part
-- whole, which verify takes as stored once OBSERVATION_RETENTION dropped
-- the observations. 60 bytes instead of 256.
CREATE FUNCTION defender_storage.compact_digest_parts(parts bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.substr(parts, 1, 4) || pg_catalog.substr(parts, 33, 4) || pg_catalog.substr(parts, 65, 4)
    || pg_catalog.substr(parts, 97, 4) || pg_catalog.substr(parts, 129, 4) || pg_catalog.substr(parts, 161, 32)
    || pg_catalog.substr(parts, 193, 4) || pg_catalog.substr(parts, 225, 4);
COMMENT ON FUNCTION defender_storage.compact_digest_parts(bytea) IS
    'Internal: what run_digest keeps of a run''s eight part digests (256 bytes): the first 4 bytes of each, the observations'' (the sixth) whole: 60 bytes (docs/audit.md).';

ALTER TABLE defender_storage.run_digest DROP CONSTRAINT run_digest_parts_check;
UPDATE defender_storage.run_digest SET parts = defender_storage.compact_digest_parts(parts);
ALTER TABLE defender_storage.run_digest ADD CONSTRAINT run_digest_parts_check CHECK (pg_catalog.octet_length(parts) = 60);
COMMENT ON COLUMN defender_storage.run_digest.parts IS 'Of the SHA-256 of each of the run''s eight parts, the first 4 bytes, and the sixth (its observations) whole, concatenated (60 bytes): what verify compares to name the part that changed; the digest covers the parts whole.';

SELECT defender.grant_reader_access();

-- +goose Down
DROP FUNCTION defender.scan_agents_as_of(timestamptz);
DROP FUNCTION defender_storage.scan_agents_as_of(timestamptz, name, text);
DROP VIEW defender.run_digests, defender.tenant_sync_status, defender.scan_coverage, defender.scan_definitions, defender.scan_definition_changes, defender.scan_agents, defender.scan_agent_observations, defender.scan_agent_changes, defender.scan_agent_daily;
DROP FUNCTION defender_storage.refresh_fleet_daily(text, date);
DROP VIEW defender.agent_daily_open;
DROP VIEW defender.sync_runs;

CREATE TABLE defender.sync_runs (
    run_id bigint NOT NULL,
    tenant_id text NOT NULL,
    started_at timestamp with time zone NOT NULL,
    fetched_at timestamp with time zone,
    finished_at timestamp with time zone,
    status text DEFAULT 'running'::text NOT NULL,
    agents_seen integer DEFAULT 0 NOT NULL,
    agents_inserted integer DEFAULT 0 NOT NULL,
    agents_changed integer DEFAULT 0 NOT NULL,
    agents_unchanged integer DEFAULT 0 NOT NULL,
    agents_deleted integer DEFAULT 0 NOT NULL,
    deletions_withheld integer DEFAULT 0 NOT NULL,
    agents_rejected integer DEFAULT 0 NOT NULL,
    api_requests integer DEFAULT 0 NOT NULL,
    error text,
    worker text,
    previous_sync_at timestamp with time zone,
    resource text DEFAULT 'agents'::text NOT NULL,
    records_seen integer DEFAULT 0 NOT NULL,
    records_inserted integer DEFAULT 0 NOT NULL,
    records_changed integer DEFAULT 0 NOT NULL,
    records_unchanged integer DEFAULT 0 NOT NULL,
    records_deleted integer DEFAULT 0 NOT NULL,
    records_rejected integer DEFAULT 0 NOT NULL,
    targets_inserted integer DEFAULT 0 NOT NULL,
    agents_heartbeat_only integer DEFAULT 0 NOT NULL,
    fields_repaired integer DEFAULT 0 NOT NULL,
    CONSTRAINT sync_runs_agents_changed_check CHECK ((agents_changed >= 0)),
    CONSTRAINT sync_runs_agents_deleted_check CHECK ((agents_deleted >= 0)),
    CONSTRAINT sync_runs_agents_heartbeat_only_check CHECK ((agents_heartbeat_only >= 0)),
    CONSTRAINT sync_runs_agents_inserted_check CHECK ((agents_inserted >= 0)),
    CONSTRAINT sync_runs_agents_rejected_check CHECK ((agents_rejected >= 0)),
    CONSTRAINT sync_runs_agents_seen_check CHECK ((agents_seen >= 0)),
    CONSTRAINT sync_runs_agents_unchanged_check CHECK ((agents_unchanged >= 0)),
    CONSTRAINT sync_runs_api_requests_check CHECK ((api_requests >= 0)),
    CONSTRAINT sync_runs_deletions_withheld_check CHECK ((deletions_withheld >= 0)),
    CONSTRAINT sync_runs_failed_has_error CHECK (((status <> 'failed'::text) OR (error IS NOT NULL))),
    CONSTRAINT sync_runs_fields_repaired_check CHECK ((fields_repaired >= 0)),
    CONSTRAINT sync_runs_finished_iff_done CHECK (((status = 'running'::text) = (finished_at IS NULL))),
    CONSTRAINT sync_runs_previous_before_fetch CHECK ((previous_sync_at < fetched_at)),
    CONSTRAINT sync_runs_records_changed_check CHECK ((records_changed >= 0)),
    CONSTRAINT sync_runs_records_deleted_check CHECK ((records_deleted >= 0)),
    CONSTRAINT sync_runs_records_inserted_check CHECK ((records_inserted >= 0)),
    CONSTRAINT sync_runs_records_rejected_check CHECK ((records_rejected >= 0)),
    CONSTRAINT sync_runs_records_seen_check CHECK ((records_seen >= 0)),
    CONSTRAINT sync_runs_records_unchanged_check CHECK ((records_unchanged >= 0)),
    CONSTRAINT sync_runs_resource CHECK ((resource = ANY (ARRAY['agents'::text, 'definitions'::text, 'history'::text]))),
    CONSTRAINT sync_runs_status_check CHECK ((status = ANY (ARRAY['running'::text, 'succeeded'::text, 'failed'::text]))),
    CONSTRAINT sync_runs_succeeded_has_fetch CHECK (((status <> 'succeeded'::text) OR (fetched_at IS NOT NULL))),
    CONSTRAINT sync_runs_targets_inserted_check CHECK ((targets_inserted >= 0)),
    CONSTRAINT sync_runs_tenant_id_check CHECK ((tenant_id <> ''::text)),
    CONSTRAINT sync_runs_time_order CHECK (((fetched_at >= started_at) AND (finished_at >= started_at)))
);

COMMENT ON TABLE defender.sync_runs IS 'One row per sync of a resource of a tenant (see resource): when it ran, how it ended and what it counted. A failed run changed no data. The agents_* columns count agent runs only; records_* count every run.';

COMMENT ON COLUMN defender.sync_runs.run_id IS 'Number of the run, increasing over time.';

COMMENT ON COLUMN defender.sync_runs.tenant_id IS 'Microsoft Entra tenant (GUID or domain, lower case) that was synced.';

COMMENT ON COLUMN defender.sync_runs.started_at IS 'When the run started (UTC).';

COMMENT ON COLUMN defender.sync_runs.fetched_at IS 'When the run began fetching agents from Defender. Every change and observation recorded by the run carries this time.';

COMMENT ON COLUMN defender.sync_runs.finished_at IS 'When the run ended (UTC); empty while it is running.';

COMMENT ON COLUMN defender.sync_runs.status IS 'running, succeeded or failed. A failed run changed no agent data.';

COMMENT ON COLUMN defender.sync_runs.agents_seen IS 'Agents the Defender API returned in this run (after removing duplicates and rejected records).';

COMMENT ON COLUMN defender.sync_runs.agents_inserted IS 'Agents seen for the first time.';

COMMENT ON COLUMN defender.sync_runs.agents_changed IS 'Known agents with a changed descriptive value (a new version: every column of scan_agents but last_seen, last_command_execution_at and bookkeeping), including agents that returned after deletion. Agents of which only the heartbeat moved are agents_heartbeat_only.';

COMMENT ON COLUMN defender.sync_runs.agents_unchanged IS 'Known agents returned with exactly the values already stored, heartbeat included.';

COMMENT ON COLUMN defender.sync_runs.agents_deleted IS 'Agents marked deleted because this complete listing no longer returned them.';

COMMENT ON COLUMN defender.sync_runs.deletions_withheld IS 'Agents missing from this listing whose deletion was withheld by the mass-deletion guard (0 when none).';

COMMENT ON COLUMN defender.sync_runs.agents_rejected IS 'Records the API returned that could not be read (no id, a malformed timestamp...). An agent listed but unreadable is kept as it was, never deleted.';

COMMENT ON COLUMN defender.sync_runs.api_requests IS 'HTTP requests made to the Defender API by this run, retries included.';

COMMENT ON COLUMN defender.sync_runs.error IS 'Why the run failed; empty unless status is failed.';

COMMENT ON COLUMN defender.sync_runs.worker IS 'Host and process that ran the sync, for troubleshooting.';

COMMENT ON COLUMN defender.sync_runs.previous_sync_at IS 'Fetch time of the tenant''s previous successful sync, when this run succeeded; empty for its first. A change this run recorded happened in (previous_sync_at, fetched_at].';

COMMENT ON COLUMN defender.sync_runs.resource IS 'What the run synced: agents (scan agents), definitions (scan definitions) or history (scan sessions and their targets). Each resource of a tenant has its own runs; a failure of one never undoes another.';

COMMENT ON COLUMN defender.sync_runs.records_seen IS 'Records of the run''s resource the API returned (agents, definitions or sessions), after removing duplicates and rejected ones.';

COMMENT ON COLUMN defender.sync_runs.records_inserted IS 'Records seen for the first time.';

COMMENT ON COLUMN defender.sync_runs.records_changed IS 'Known records with at least one changed value (agents and definitions: a new version, or a return; sessions: values the history completed or corrected). Agents of which only the heartbeat moved are agents_heartbeat_only.';

COMMENT ON COLUMN defender.sync_runs.records_unchanged IS 'Known records returned with exactly the values already stored: not written.';

COMMENT ON COLUMN defender.sync_runs.records_deleted IS 'Agents or definitions marked deleted because this complete listing no longer returned them.';

COMMENT ON COLUMN defender.sync_runs.records_rejected IS 'Records the API returned that could not be read; a definition listed but unreadable is kept as it was, never deleted.';

COMMENT ON COLUMN defender.sync_runs.targets_inserted IS 'History runs: scanned targets stored, of the sessions whose targets were not stored yet.';

COMMENT ON COLUMN defender.sync_runs.agents_heartbeat_only IS 'Known agents of which only last_seen or last_command_execution_at moved: observed, no new version ("seen" in the sync''s summary). agents_inserted + agents_changed + agents_heartbeat_only + agents_unchanged = agents_seen. 0 on runs of other resources.';

COMMENT ON COLUMN defender.sync_runs.fields_repaired IS 'Fields of the listing stored repaired, because PostgreSQL cannot store them as sent: a NUL character dropped, invalid UTF-8 replaced by U+FFFD. The log of the run names the fields and the records. 0 for runs before this was counted.';

ALTER TABLE defender.sync_runs ALTER COLUMN run_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME defender.sync_runs_run_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

INSERT INTO defender.sync_runs (run_id, tenant_id, started_at, fetched_at, finished_at, status,
       agents_seen, agents_inserted, agents_changed, agents_unchanged, agents_deleted, deletions_withheld, agents_rejected,
       api_requests, error, worker, previous_sync_at, resource,
       records_seen, records_inserted, records_changed, records_unchanged, records_deleted, records_rejected,
       targets_inserted, agents_heartbeat_only, fields_repaired)
OVERRIDING SYSTEM VALUE
SELECT r.run_id, t.tenant_id, r.started_at, r.fetched_at, r.finished_at, defender_storage.run_status_name(r.status),
       CASE WHEN r.resource = 'a' THEN r.records_seen ELSE 0 END, CASE WHEN r.resource = 'a' THEN r.records_inserted ELSE 0 END,
       CASE WHEN r.resource = 'a' THEN r.records_changed ELSE 0 END, CASE WHEN r.resource = 'a' THEN r.records_unchanged ELSE 0 END,
       CASE WHEN r.resource = 'a' THEN r.records_deleted ELSE 0 END, r.deletions_withheld,
       CASE WHEN r.resource = 'a' THEN r.records_rejected ELSE 0 END,
       r.api_requests, nullif(r.error, ''), w.worker, r.previous_sync_at, defender_storage.run_resource_name(r.resource),
       r.records_seen, r.records_inserted, r.records_changed, r.records_unchanged, r.records_deleted, r.records_rejected,
       r.targets_inserted, r.heartbeat_only, r.fields_repaired
  FROM defender_storage.sync_run r
  JOIN defender_storage.tenants t ON t.tenant_no = r.tenant_no
  LEFT JOIN defender_storage.sync_worker w ON w.worker_no = r.worker_no
 ORDER BY r.run_id;

SELECT pg_catalog.setval('defender.sync_runs_run_id_seq', s.last_value, s.is_called)
  FROM defender_storage.sync_run_run_id_seq s;

ALTER TABLE ONLY defender.sync_runs
    ADD CONSTRAINT sync_runs_pkey PRIMARY KEY (run_id);

CREATE INDEX sync_runs_by_start ON defender.sync_runs USING btree (tenant_id, started_at);

CREATE INDEX sync_runs_failed_by_tenant ON defender.sync_runs USING btree (tenant_id, resource, run_id) WHERE (status = 'failed'::text);

CREATE INDEX sync_runs_finished_by_tenant ON defender.sync_runs USING btree (tenant_id, resource, run_id) WHERE (status <> 'running'::text);

CREATE UNIQUE INDEX sync_runs_one_running_per_tenant ON defender.sync_runs USING btree (tenant_id, resource) WHERE (status = 'running'::text);

CREATE INDEX sync_runs_succeeded_by_fetch ON defender.sync_runs USING btree (tenant_id, fetched_at) INCLUDE (run_id) WHERE (status = 'succeeded'::text);

CREATE INDEX sync_runs_succeeded_by_resource ON defender.sync_runs USING btree (tenant_id, resource, fetched_at) INCLUDE (run_id) WHERE (status = 'succeeded'::text);

CREATE INDEX sync_runs_succeeded_by_tenant ON defender.sync_runs USING btree (tenant_id, run_id) INCLUDE (fetched_at) WHERE (status = 'succeeded'::text);

ALTER TABLE ONLY defender.sync_runs
    ADD CONSTRAINT sync_runs_tenant FOREIGN KEY (tenant_id) REFERENCES defender_storage.tenants(tenant_id);

ALTER TABLE defender.sync_runs ENABLE ROW LEVEL SECURITY;

CREATE POLICY visible_tenants ON defender.sync_runs FOR SELECT USING (((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[]))));

COMMENT ON POLICY visible_tenants ON defender.sync_runs IS 'A reader sees the runs of the tenants it may see (defender_storage.visible_tenants); the owner bypasses row-level security.';

ALTER TABLE defender_storage.agent_state DROP CONSTRAINT agent_state_deleted_by_run_id_fkey, ADD CONSTRAINT agent_state_deleted_by_run_id_fkey FOREIGN KEY (deleted_by_run_id) REFERENCES defender.sync_runs (run_id);
ALTER TABLE defender_storage.agent_state DROP CONSTRAINT agent_state_first_seen_run_id_fkey, ADD CONSTRAINT agent_state_first_seen_run_id_fkey FOREIGN KEY (first_seen_run_id) REFERENCES defender.sync_runs (run_id);
ALTER TABLE defender.scan_agent_history DROP CONSTRAINT scan_agent_history_closed_by_run_id_fkey, ADD CONSTRAINT scan_agent_history_closed_by_run_id_fkey FOREIGN KEY (closed_by_run_id) REFERENCES defender.sync_runs (run_id);
ALTER TABLE defender.scan_agent_history DROP CONSTRAINT scan_agent_history_opened_by_run_id_fkey, ADD CONSTRAINT scan_agent_history_opened_by_run_id_fkey FOREIGN KEY (opened_by_run_id) REFERENCES defender.sync_runs (run_id);
ALTER TABLE defender_storage.withheld_deletions DROP CONSTRAINT withheld_deletions_run_id_fkey, ADD CONSTRAINT withheld_deletions_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender.sync_runs (run_id);
ALTER TABLE defender_storage.tenants DROP CONSTRAINT tenants_last_run_id_fkey, ADD CONSTRAINT tenants_last_run_id_fkey FOREIGN KEY (last_run_id) REFERENCES defender.sync_runs (run_id);
ALTER TABLE defender_storage.agent_daily DROP CONSTRAINT agent_daily_run_id_fkey, ADD CONSTRAINT agent_daily_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender.sync_runs (run_id);
ALTER TABLE defender_storage.tenant_daily DROP CONSTRAINT tenant_daily_run_id_fkey, ADD CONSTRAINT tenant_daily_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender.sync_runs (run_id);
ALTER TABLE defender_storage.definition_state DROP CONSTRAINT definition_state_deleted_by_run_id_fkey, ADD CONSTRAINT definition_state_deleted_by_run_id_fkey FOREIGN KEY (deleted_by_run_id) REFERENCES defender.sync_runs (run_id);
ALTER TABLE defender_storage.definition_state DROP CONSTRAINT definition_state_first_seen_run_id_fkey, ADD CONSTRAINT definition_state_first_seen_run_id_fkey FOREIGN KEY (first_seen_run_id) REFERENCES defender.sync_runs (run_id);
ALTER TABLE defender_storage.definition_version DROP CONSTRAINT definition_version_closed_by_run_id_fkey, ADD CONSTRAINT definition_version_closed_by_run_id_fkey FOREIGN KEY (closed_by_run_id) REFERENCES defender.sync_runs (run_id);
ALTER TABLE defender_storage.definition_version DROP CONSTRAINT definition_version_opened_by_run_id_fkey, ADD CONSTRAINT definition_version_opened_by_run_id_fkey FOREIGN KEY (opened_by_run_id) REFERENCES defender.sync_runs (run_id);
ALTER TABLE defender_storage.definition_withheld DROP CONSTRAINT definition_withheld_run_id_fkey, ADD CONSTRAINT definition_withheld_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender.sync_runs (run_id);
ALTER TABLE defender_storage.session_result DROP CONSTRAINT session_result_recorded_by_run_id_fkey, ADD CONSTRAINT session_result_recorded_by_run_id_fkey FOREIGN KEY (recorded_by_run_id) REFERENCES defender.sync_runs (run_id);
ALTER TABLE defender_storage.session_result DROP CONSTRAINT session_result_targets_run_id_fkey, ADD CONSTRAINT session_result_targets_run_id_fkey FOREIGN KEY (targets_run_id) REFERENCES defender.sync_runs (run_id);
ALTER TABLE defender_storage.session_result DROP CONSTRAINT session_result_updated_by_run_id_fkey, ADD CONSTRAINT session_result_updated_by_run_id_fkey FOREIGN KEY (updated_by_run_id) REFERENCES defender.sync_runs (run_id);
ALTER TABLE defender_storage.observation DROP CONSTRAINT observation_run_id_fkey, ADD CONSTRAINT observation_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender.sync_runs (run_id);
ALTER TABLE defender_storage.session_write DROP CONSTRAINT session_write_run_id_fkey, ADD CONSTRAINT session_write_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender.sync_runs (run_id);
ALTER TABLE defender_storage.run_digest DROP CONSTRAINT run_digest_run_id_fkey, ADD CONSTRAINT run_digest_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender.sync_runs (run_id);

-- defender_storage.scan_agents_as_of(timestamp with time zone, name, text)
-- +goose StatementBegin
CREATE FUNCTION defender_storage.scan_agents_as_of(at timestamp with time zone, viewer name, tenant text) RETURNS TABLE(tenant_id text, agent_id text, machine_id text, computer_dns_name text, assigned_application_id text, scanner_software_version text, mde_client_version text, last_seen timestamp with time zone, last_command_execution_at timestamp with time zone, extra jsonb, as_of_run_id bigint, as_of_fetched_at timestamp with time zone)
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    BEGIN ATOMIC
 WITH s AS (
          SELECT t.tenant_id,
             r.run_id,
             r.fetched_at,
             (r.run_id = t.last_run_id) AS latest,
             defender.utc_day(r.fetched_at) AS day,
             ((defender.utc_day(r.fetched_at))::timestamp without time zone AT TIME ZONE 'UTC'::text) AS day_start,
             (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE (w.run_id = r.run_id))) AS withheld
            FROM (defender_storage.tenants t
              CROSS JOIN LATERAL ( SELECT r_1.run_id,
                     r_1.fetched_at
                    FROM defender.sync_runs r_1
                   WHERE ((r_1.tenant_id = t.tenant_id) AND (r_1.resource = 'agents'::text) AND (r_1.status = 'succeeded'::text) AND (r_1.fetched_at <= scan_agents_as_of.at))
                   ORDER BY r_1.fetched_at DESC
                  LIMIT 1) r)
           WHERE (((( SELECT defender_storage.visible_tenants(scan_agents_as_of.viewer) AS visible_tenants) IS NULL) OR (t.tenant_id = ANY (( SELECT defender_storage.visible_tenants(scan_agents_as_of.viewer) AS visible_tenants)::text[]))) AND ((scan_agents_as_of.tenant IS NULL) OR (t.tenant_id = lower(scan_agents_as_of.tenant))))
         ), current AS (
          SELECT s.tenant_id,
             a.agent_id,
             a.machine_id,
             a.computer_dns_name,
             a.assigned_application_id,
             a.scanner_software_version,
             a.mde_client_version,
             hb.last_seen,
             hb.last_command_execution_at,
             a.extra,
             s.run_id,
             s.fetched_at
            FROM ((s
              JOIN defender_storage.agent_state a ON (((a.tenant_id = s.tenant_id) AND (a.deleted_at IS NULL))))
              LEFT JOIN defender_storage.agent_heartbeat hb ON ((hb.agent_key = a.agent_key)))
           WHERE (s.latest AND (NOT (s.withheld AND (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE ((w.agent_key = a.agent_key) AND (w.run_id = s.run_id)))))))
         ), versions AS MATERIALIZED (
          SELECT s.run_id,
             s.fetched_at,
             s.day,
             s.day_start,
             a.tenant_id,
             h.agent_key,
             a.agent_no,
             h.agent_id,
             h.machine_id,
             h.computer_dns_name,
             h.assigned_application_id,
             h.scanner_software_version,
             h.mde_client_version,
             h.extra,
             h.valid_to
            FROM ((s
              JOIN defender_storage.agent_state a ON (((a.tenant_id = s.tenant_id) AND (a.first_seen_at <= s.fetched_at) AND ((a.deleted_at IS NULL) OR (a.deleted_at > s.fetched_at)))))
              CROSS JOIN LATERAL ( SELECT h_1.agent_key,
                     h_1.agent_id,
                     h_1.machine_id,
                     h_1.computer_dns_name,
                     h_1.assigned_application_id,
                     h_1.scanner_software_version,
                     h_1.mde_client_version,
                     h_1.extra,
                     h_1.valid_to
                    FROM defender.scan_agent_history h_1
                   WHERE ((h_1.agent_key = a.agent_key) AND (h_1.valid_from <= s.fetched_at))
                   ORDER BY h_1.valid_from DESC
                  LIMIT 1) h)
           WHERE ((NOT s.latest) AND ((h.valid_to IS NULL) OR (h.valid_to > s.fetched_at)) AND (NOT (s.withheld AND (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE ((w.agent_key = h.agent_key) AND (w.run_id = s.run_id)))))))
         ), day_obs AS MATERIALIZED (
          SELECT DISTINCT ON (r.tenant_id, x.agent_no) r.tenant_id,
             x.agent_no,
             x.last_seen,
             x.last_command_execution_at
            FROM (((s
              JOIN defender.sync_runs r ON (((r.tenant_id = s.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'succeeded'::text) AND (r.fetched_at >= s.day_start) AND (r.fetched_at <= s.fetched_at))))
              CROSS JOIN LATERAL ( SELECT o_1.observed_at,
                     o_1.agent_nos,
                     o_1.last_seen,
                     o_1.last_command_execution_at
                    FROM defender_storage.observation o_1
                   WHERE ((o_1.run_id = r.run_id) AND (o_1.observed_at = r.fetched_at))
                  LIMIT 1) o)
              CROSS JOIN LATERAL UNNEST(o.agent_nos, o.last_seen, o.last_command_execution_at) x(agent_no, last_seen, last_command_execution_at))
           WHERE (NOT s.latest)
           ORDER BY r.tenant_id, x.agent_no, o.observed_at DESC
         )
  SELECT c.tenant_id,
     c.agent_id,
     c.machine_id,
     c.computer_dns_name,
     c.assigned_application_id,
     c.scanner_software_version,
     c.mde_client_version,
     c.last_seen,
     c.last_command_execution_at,
     c.extra,
     c.run_id,
     c.fetched_at
    FROM current c
 UNION ALL
  SELECT v.tenant_id,
     v.agent_id,
     v.machine_id,
     v.computer_dns_name,
     v.assigned_application_id,
     v.scanner_software_version,
     v.mde_client_version,
         CASE
             WHEN (d.agent_no IS NOT NULL) THEN d.last_seen
             ELSE p.last_seen
         END AS last_seen,
         CASE
             WHEN (d.agent_no IS NOT NULL) THEN d.last_command_execution_at
             ELSE p.last_command_execution_at
         END AS last_command_execution_at,
     v.extra,
     v.run_id,
     v.fetched_at
    FROM ((versions v
      LEFT JOIN day_obs d ON (((d.tenant_id = v.tenant_id) AND (d.agent_no = v.agent_no))))
      LEFT JOIN LATERAL ( SELECT ad.last_seen,
             ad.last_command_execution_at
            FROM defender_storage.agent_daily ad
           WHERE ((d.agent_no IS NULL) AND (ad.agent_key = v.agent_key) AND (ad.day < v.day))
           ORDER BY ad.day DESC
          LIMIT 1) p ON (true));
END;
-- +goose StatementEnd

COMMENT ON FUNCTION defender_storage.scan_agents_as_of(at timestamp with time zone, viewer name, tenant text) IS 'Runs for readers: defender.scan_agents_as_of for the tenants the role viewer may see (of them, tenant alone when given, any case); runs as its owner to read the storage. Only the wrapper calls it (readers cannot name it), with its caller as viewer.';

-- defender.scan_agents_as_of(timestamp with time zone)
-- +goose StatementBegin
CREATE FUNCTION defender.scan_agents_as_of(at timestamp with time zone) RETURNS TABLE(tenant_id text, agent_id text, machine_id text, computer_dns_name text, assigned_application_id text, scanner_software_version text, mde_client_version text, last_seen timestamp with time zone, last_command_execution_at timestamp with time zone, extra jsonb, as_of_run_id bigint, as_of_fetched_at timestamp with time zone)
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    BEGIN ATOMIC
 SELECT a.tenant_id,
     a.agent_id,
     a.machine_id,
     a.computer_dns_name,
     a.assigned_application_id,
     a.scanner_software_version,
     a.mde_client_version,
     a.last_seen,
     a.last_command_execution_at,
     a.extra,
     a.as_of_run_id,
     a.as_of_fetched_at
    FROM defender_storage.scan_agents_as_of(scan_agents_as_of.at, CURRENT_USER, NULL::text) a(tenant_id, agent_id, machine_id, computer_dns_name, assigned_application_id, scanner_software_version, mde_client_version, last_seen, last_command_execution_at, extra, as_of_run_id, as_of_fetched_at);
END;
-- +goose StatementEnd

COMMENT ON FUNCTION defender.scan_agents_as_of(at timestamp with time zone) IS 'The agents exactly as the last successful sync at or before the given time saw them, per tenant (the columns of scan_agents without bookkeeping), then as_of_run_id and as_of_fetched_at: the sync the answer comes from. Example: SELECT * FROM defender.scan_agents_as_of(''2026-10-01''). Beyond OBSERVATION_RETENTION, last_seen and last_command_execution_at are those of the last sync of the previous day.';

-- defender.agent_daily_open

CREATE VIEW defender.agent_daily_open WITH (security_barrier='true') AS
 SELECT v.agent_key,
    v.tenant_id,
    v.day,
    v.run_id,
    v.synced_at,
    v.computer_dns_name,
    v.mde_client_version,
    v.scanner_software_version,
    v.last_seen,
    v.last_command_execution_at,
    v.syncs_observed
   FROM ( SELECT a.agent_key,
            a.tenant_id,
            td.day,
            t.last_run_id AS run_id,
            t.last_fetched_at AS synced_at,
            a.computer_dns_name,
            a.mde_client_version,
            a.scanner_software_version,
            hb.last_seen,
            hb.last_command_execution_at,
            ((
                CASE
                    WHEN (a.active_since <= td.first_synced_at) THEN td.syncs
                    ELSE ( SELECT (count(*))::integer AS count
                       FROM defender.sync_runs r
                      WHERE ((r.tenant_id = a.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'succeeded'::text) AND (r.fetched_at >= a.active_since) AND (r.fetched_at <= t.last_fetched_at)))
                END -
                CASE
                    WHEN (wh.agent_key IS NULL) THEN 0
                    ELSE ( SELECT (count(*))::integer AS count
                       FROM unnest(wh.withheld_at) x(at)
                      WHERE (x.at >= GREATEST(a.active_since, td.first_synced_at)))
                END) + COALESCE(earlier.syncs_observed, 0)) AS syncs_observed
           FROM (((((defender_storage.tenants t
             JOIN defender_storage.tenant_daily td ON (((td.tenant_id = t.tenant_id) AND (td.day = defender.utc_day(t.last_fetched_at)))))
             JOIN defender_storage.agent_state a ON (((a.tenant_id = t.tenant_id) AND (a.deleted_at IS NULL))))
             LEFT JOIN defender_storage.agent_heartbeat hb ON ((hb.agent_key = a.agent_key)))
             LEFT JOIN defender_storage.agent_daily earlier ON (((earlier.agent_key = a.agent_key) AND (earlier.day = td.day))))
             LEFT JOIN ( SELECT w.agent_key,
                    array_agg(r.fetched_at) AS withheld_at
                   FROM ((defender_storage.tenants wt
                     JOIN defender.sync_runs r ON (((r.tenant_id = wt.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'succeeded'::text) AND (r.fetched_at >= ((defender.utc_day(wt.last_fetched_at))::timestamp without time zone AT TIME ZONE 'UTC'::text)))))
                     JOIN defender_storage.withheld_deletions w ON ((w.run_id = r.run_id)))
                  GROUP BY w.agent_key) wh ON ((wh.agent_key = a.agent_key)))) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

COMMENT ON VIEW defender.agent_daily_open IS 'The rows of scan_agent_daily for the open day of each tenant (the day of its latest successful sync), computed from the current state, with internal agent keys.';

COMMENT ON COLUMN defender.agent_daily_open.agent_key IS 'Internal number of the agent (see defender.agent_state).';

COMMENT ON COLUMN defender.agent_daily_open.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';

COMMENT ON COLUMN defender.agent_daily_open.day IS 'The UTC day of the tenant''s latest successful sync.';

COMMENT ON COLUMN defender.agent_daily_open.run_id IS 'That sync.';

COMMENT ON COLUMN defender.agent_daily_open.synced_at IS 'Fetch time of that sync.';

COMMENT ON COLUMN defender.agent_daily_open.computer_dns_name IS 'Host name as of that sync.';

COMMENT ON COLUMN defender.agent_daily_open.mde_client_version IS 'Defender client version as of that sync.';

COMMENT ON COLUMN defender.agent_daily_open.scanner_software_version IS 'Scanner version as of that sync.';

COMMENT ON COLUMN defender.agent_daily_open.last_seen IS 'last_seen as of that sync.';

COMMENT ON COLUMN defender.agent_daily_open.last_command_execution_at IS 'last_command_execution_at as of that sync.';

COMMENT ON COLUMN defender.agent_daily_open.syncs_observed IS 'Successful syncs of the day so far that returned the agent.';

-- defender_storage.refresh_fleet_daily(text, date)
-- +goose StatementBegin
CREATE FUNCTION defender_storage.refresh_fleet_daily(tenant text, day date) RETURNS void
    LANGUAGE sql
    BEGIN ATOMIC
 WITH fleet AS (
          SELECT d.mde_client_version,
             d.last_seen,
             td_1.synced_at
            FROM (defender_storage.tenant_daily td_1
              JOIN defender_storage.agent_daily d ON (((d.day = td_1.day) AND (d.run_id = td_1.run_id))))
           WHERE ((td_1.tenant_id = refresh_fleet_daily.tenant) AND (td_1.day = refresh_fleet_daily.day) AND (refresh_fleet_daily.day <> ( SELECT defender.utc_day(t.last_fetched_at) AS utc_day
                    FROM defender_storage.tenants t
                   WHERE (t.tenant_id = refresh_fleet_daily.tenant))))
         UNION ALL
          SELECT o.mde_client_version,
             o.last_seen,
             o.synced_at
            FROM defender.agent_daily_open o
           WHERE ((o.tenant_id = refresh_fleet_daily.tenant) AND (o.day = refresh_fleet_daily.day))
         ), versions AS (
          SELECT v.mde_client_version,
             v.agents,
             v.stale,
             v.never_seen,
             defender.version_key(v.mde_client_version) AS key
            FROM ( SELECT f.mde_client_version,
                     count(*) AS agents,
                     count(*) FILTER (WHERE (f.last_seen <= (f.synced_at - '7 days'::interval))) AS stale,
                     count(*) FILTER (WHERE (f.last_seen IS NULL)) AS never_seen
                    FROM fleet f
                   GROUP BY f.mde_client_version) v
         ), newest AS (
          SELECT v.key,
             v.mde_client_version AS version
            FROM versions v
           WHERE (v.key IS NOT NULL)
           ORDER BY v.key DESC, (length(v.mde_client_version)) DESC, v.mde_client_version
          LIMIT 1
         )
  UPDATE defender_storage.tenant_daily AS td SET active_agents = COALESCE(s.active, (0)::numeric), stale_7d_agents = COALESCE(s.stale, (0)::numeric), never_seen_agents = COALESCE(s.never_seen, (0)::numeric), newest_mde_client_version = ( SELECT newest.version
            FROM newest), agents_on_newest = COALESCE(s.on_newest, (0)::numeric), mde_client_versions = s.counts
    FROM ( SELECT sum(v.agents) AS active,
             sum(v.stale) AS stale,
             sum(v.never_seen) AS never_seen,
             sum(v.agents) FILTER (WHERE (v.key = ( SELECT newest.key
                    FROM newest))) AS on_newest,
             COALESCE(jsonb_object_agg(v.mde_client_version, v.agents) FILTER (WHERE (v.mde_client_version IS NOT NULL)), '{}'::jsonb) AS counts
            FROM versions v) s
   WHERE ((td.tenant_id = refresh_fleet_daily.tenant) AND (td.day = refresh_fleet_daily.day));
END;
-- +goose StatementEnd

COMMENT ON FUNCTION defender_storage.refresh_fleet_daily(tenant text, day date) IS 'Internal: recomputes the agent counts of a tenant''s day in tenant_daily from the agents active at the day''s last successful sync. The loader calls it in every sync''s transaction.';

-- defender.run_digests

CREATE VIEW defender.run_digests WITH (security_barrier='true') AS
 SELECT r.run_id,
    r.tenant_id,
    r.resource,
    r.fetched_at,
    d.previous_run_id,
    encode(d.digest, 'hex'::text) AS digest,
    d.computed_at_upgrade
   FROM (defender_storage.run_digest d
     JOIN defender.sync_runs r ON ((r.run_id = d.run_id)))
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (r.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

COMMENT ON VIEW defender.run_digests IS 'The digest of each successful run, chained with the previous successful run of its tenant and resource: the latest of a tenant and resource is its chain head. agentsync verify recomputes them (docs/audit.md).';

COMMENT ON COLUMN defender.run_digests.run_id IS 'The run.';

COMMENT ON COLUMN defender.run_digests.tenant_id IS 'Its tenant.';

COMMENT ON COLUMN defender.run_digests.resource IS 'What it synced: agents, definitions or history; each tenant and resource is a chain of its own.';

COMMENT ON COLUMN defender.run_digests.fetched_at IS 'Its fetch time.';

COMMENT ON COLUMN defender.run_digests.previous_run_id IS 'The run whose digest it chains; empty for the first of the chain.';

COMMENT ON COLUMN defender.run_digests.digest IS 'SHA-256, hex: of the previous digest and of what the run wrote.';

COMMENT ON COLUMN defender.run_digests.computed_at_upgrade IS 'True when the upgrade to digests computed it, from the rows as they were then: it proves nothing of before the upgrade.';

-- defender.scan_agent_changes

CREATE VIEW defender.scan_agent_changes WITH (security_barrier='true') AS
 SELECT v.tenant_id,
    v.agent_id,
    v.changed_at,
    v.attribute,
    v.old_value,
    v.new_value,
    v.run_id,
    v.previous_sync_at
   FROM ( SELECT v_1.tenant_id,
            v_1.agent_id,
            v_1.valid_from AS changed_at,
            c.attribute,
            c.old_value,
            c.new_value,
            v_1.opened_by_run_id AS run_id,
            r.previous_sync_at
           FROM (((defender.scan_agent_history v_1
             LEFT JOIN LATERAL ( SELECT p_1.history_id,
                    p_1.agent_key,
                    p_1.tenant_id,
                    p_1.agent_id,
                    p_1.machine_id,
                    p_1.computer_dns_name,
                    p_1.assigned_application_id,
                    p_1.scanner_software_version,
                    p_1.mde_client_version,
                    p_1.extra,
                    p_1.valid_from,
                    p_1.valid_to,
                    p_1.opened_by_run_id,
                    p_1.closed_by_run_id
                   FROM defender.scan_agent_history p_1
                  WHERE ((p_1.agent_key = v_1.agent_key) AND (p_1.valid_from < v_1.valid_from))
                  ORDER BY p_1.valid_from DESC
                 LIMIT 1) p ON (true))
             JOIN defender.sync_runs r ON ((r.run_id = v_1.opened_by_run_id)))
             CROSS JOIN LATERAL ( SELECT 'agent'::text AS "?column?",
                        CASE
                            WHEN (p.valid_to IS NOT NULL) THEN 'deleted'::text
                            ELSE NULL::text
                        END AS "case",
                        CASE
                            WHEN (p.valid_to IS NOT NULL) THEN 'returned'::text
                            ELSE 'first seen'::text
                        END AS "case"
                  WHERE ((p.valid_to IS NULL) OR (p.valid_to < v_1.valid_from))
                UNION ALL
                 SELECT a.attribute,
                    a.old_value,
                    a.new_value
                   FROM ( VALUES ('machine_id'::text,p.machine_id,v_1.machine_id), ('computer_dns_name'::text,p.computer_dns_name,v_1.computer_dns_name), ('assigned_application_id'::text,p.assigned_application_id,v_1.assigned_application_id), ('scanner_software_version'::text,p.scanner_software_version,v_1.scanner_software_version), ('mde_client_version'::text,p.mde_client_version,v_1.mde_client_version)) a(attribute, old_value, new_value)
                  WHERE ((p.history_id IS NOT NULL) AND (a.old_value IS DISTINCT FROM a.new_value))
                UNION ALL
                 SELECT ('extra.'::text || k.key),
                    ((p.extra -> k.key) #>> '{}'::text[]),
                    ((v_1.extra -> k.key) #>> '{}'::text[])
                   FROM ( SELECT jsonb_object_keys(p.extra) AS jsonb_object_keys
                        UNION
                         SELECT jsonb_object_keys(v_1.extra) AS jsonb_object_keys) k(key)
                  WHERE ((p.history_id IS NOT NULL) AND (p.extra IS DISTINCT FROM v_1.extra) AND ((p.extra -> k.key) IS DISTINCT FROM (v_1.extra -> k.key)))) c(attribute, old_value, new_value))
        UNION ALL
         SELECT v_1.tenant_id,
            v_1.agent_id,
            v_1.valid_to AS changed_at,
            'agent'::text AS attribute,
            'active'::text AS old_value,
            'deleted'::text AS new_value,
            v_1.closed_by_run_id AS run_id,
            r.previous_sync_at
           FROM (defender.scan_agent_history v_1
             JOIN defender.sync_runs r ON ((r.run_id = v_1.closed_by_run_id)))
          WHERE ((v_1.valid_to IS NOT NULL) AND (NOT (EXISTS ( SELECT
                   FROM defender.scan_agent_history n
                  WHERE ((n.agent_key = v_1.agent_key) AND (n.valid_from = v_1.valid_to))))))) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

COMMENT ON VIEW defender.scan_agent_changes IS 'One row per changed attribute of an agent, from its history: versions, host names, application ids, fields without a column (attribute extra.<name>), and the agent itself being first seen, deleted or returning (attribute agent).';

COMMENT ON COLUMN defender.scan_agent_changes.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';

COMMENT ON COLUMN defender.scan_agent_changes.agent_id IS 'Defender id of the scan agent.';

COMMENT ON COLUMN defender.scan_agent_changes.changed_at IS 'Fetch time of the sync that saw the change.';

COMMENT ON COLUMN defender.scan_agent_changes.attribute IS 'What changed: a column name of scan_agents, extra.<field name as sent>, or agent (first seen, deleted, returned).';

COMMENT ON COLUMN defender.scan_agent_changes.old_value IS 'Value before the change, as text; empty if there was none.';

COMMENT ON COLUMN defender.scan_agent_changes.new_value IS 'Value after the change, as text; empty if there is none.';

COMMENT ON COLUMN defender.scan_agent_changes.run_id IS 'The sync run that saw the change.';

COMMENT ON COLUMN defender.scan_agent_changes.previous_sync_at IS 'Fetch time of the tenant''s previous successful sync: the change happened in (previous_sync_at, changed_at]. Empty for changes seen by a tenant''s first sync.';

-- defender.scan_agent_daily

CREATE VIEW defender.scan_agent_daily WITH (security_barrier='true') AS
 SELECT v.tenant_id,
    v.agent_id,
    v.day,
    v.computer_dns_name,
    v.mde_client_version,
    v.scanner_software_version,
    v.last_seen,
    v.staleness,
    v.syncs_observed,
    v.last_command_execution_at,
    v.as_of_run_id,
    v.as_of_fetched_at
   FROM ( SELECT a.tenant_id,
            a.agent_id,
            d.day,
            d.computer_dns_name,
            d.mde_client_version,
            d.scanner_software_version,
            d.last_seen,
            (d.synced_at - d.last_seen) AS staleness,
            d.syncs_observed,
            d.last_command_execution_at,
            d.run_id AS as_of_run_id,
            d.synced_at AS as_of_fetched_at
           FROM ((defender_storage.agent_daily d
             JOIN defender_storage.agent_state a ON ((a.agent_key = d.agent_key)))
             JOIN defender_storage.tenants t ON ((t.tenant_id = a.tenant_id)))
          WHERE (NOT ((a.deleted_at IS NULL) AND (d.day = defender.utc_day(t.last_fetched_at))))
        UNION ALL
         SELECT o.tenant_id,
            a.agent_id,
            o.day,
            o.computer_dns_name,
            o.mde_client_version,
            o.scanner_software_version,
            o.last_seen,
            (o.synced_at - o.last_seen) AS staleness,
            o.syncs_observed,
            o.last_command_execution_at,
            o.run_id AS as_of_run_id,
            o.synced_at AS as_of_fetched_at
           FROM (defender.agent_daily_open o
             JOIN defender_storage.agent_state a ON ((a.agent_key = o.agent_key)))) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

COMMENT ON VIEW defender.scan_agent_daily IS 'One row per agent per UTC day on which its tenant had a successful sync while the agent was active: the agent as the day''s last such sync saw it. Kept after OBSERVATION_RETENTION drops raw observations.';

COMMENT ON COLUMN defender.scan_agent_daily.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';

COMMENT ON COLUMN defender.scan_agent_daily.agent_id IS 'Defender id of the scan agent.';

COMMENT ON COLUMN defender.scan_agent_daily.day IS 'The UTC day.';

COMMENT ON COLUMN defender.scan_agent_daily.computer_dns_name IS 'Host name as of the day''s last sync that had the agent active.';

COMMENT ON COLUMN defender.scan_agent_daily.mde_client_version IS 'Defender client version as of that sync.';

COMMENT ON COLUMN defender.scan_agent_daily.scanner_software_version IS 'Scanner version as of that sync.';

COMMENT ON COLUMN defender.scan_agent_daily.last_seen IS 'last_seen as of that sync.';

COMMENT ON COLUMN defender.scan_agent_daily.staleness IS 'That sync''s fetch time minus last_seen: how long the agent had not checked in; empty if never.';

COMMENT ON COLUMN defender.scan_agent_daily.syncs_observed IS 'Successful syncs of the day that returned the agent.';

COMMENT ON COLUMN defender.scan_agent_daily.last_command_execution_at IS 'last_command_execution_at as of that sync.';

COMMENT ON COLUMN defender.scan_agent_daily.as_of_run_id IS 'The sync the row comes from: the day''s last successful sync at which the agent was active.';

COMMENT ON COLUMN defender.scan_agent_daily.as_of_fetched_at IS 'Fetch time of that sync.';

-- defender.scan_agent_observations

CREATE VIEW defender.scan_agent_observations WITH (security_barrier='true') AS
 SELECT v.tenant_id,
    v.agent_id,
    v.run_id,
    v.observed_at,
    v.last_seen,
    v.last_command_execution_at
   FROM ( SELECT a.tenant_id,
            a.agent_id,
            r.run_id,
            r.fetched_at AS observed_at,
            x.last_seen,
            x.last_command_execution_at
           FROM (((defender.sync_runs r
             CROSS JOIN LATERAL ( SELECT o_1.agent_nos,
                    o_1.last_seen,
                    o_1.last_command_execution_at
                   FROM defender_storage.observation o_1
                  WHERE ((o_1.run_id = r.run_id) AND (o_1.observed_at = r.fetched_at))
                 LIMIT 1) o)
             CROSS JOIN LATERAL UNNEST(o.agent_nos, o.last_seen, o.last_command_execution_at) x(agent_no, last_seen, last_command_execution_at))
             JOIN defender_storage.agent_state a ON (((a.tenant_id = r.tenant_id) AND (a.agent_no = x.agent_no))))
          WHERE ((r.resource = 'agents'::text) AND (r.status = 'succeeded'::text))) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

COMMENT ON VIEW defender.scan_agent_observations IS 'What each sync saw of an agent''s volatile timestamps: one row per agent per sync in which last_seen or last_command_execution_at changed. Use it for lastSeen trends and gaps; filter on agent_id or tenant_id and observed_at. Kept for OBSERVATION_RETENTION (default: forever); older trends are in scan_agent_daily.';

COMMENT ON COLUMN defender.scan_agent_observations.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';

COMMENT ON COLUMN defender.scan_agent_observations.agent_id IS 'Defender id of the scan agent.';

COMMENT ON COLUMN defender.scan_agent_observations.run_id IS 'The sync run that made the observation.';

COMMENT ON COLUMN defender.scan_agent_observations.observed_at IS 'Fetch time of that sync.';

COMMENT ON COLUMN defender.scan_agent_observations.last_seen IS 'The agent''s last check-in time as that sync saw it.';

COMMENT ON COLUMN defender.scan_agent_observations.last_command_execution_at IS 'The scanner''s last command time as that sync saw it.';

-- defender.scan_agents

CREATE VIEW defender.scan_agents WITH (security_barrier='true') AS
 SELECT v.tenant_id,
    v.agent_id,
    v.machine_id,
    v.computer_dns_name,
    v.assigned_application_id,
    v.scanner_software_version,
    v.mde_client_version,
    v.last_seen,
    v.last_command_execution_at,
    v.extra,
    v.first_seen_at,
    v.last_synced_at,
    v.deleted_at
   FROM ( SELECT a.tenant_id,
            a.agent_id,
            a.machine_id,
            a.computer_dns_name,
            a.assigned_application_id,
            a.scanner_software_version,
            a.mde_client_version,
            hb.last_seen,
            hb.last_command_execution_at,
            a.extra,
            a.first_seen_at,
                CASE
                    WHEN ((a.deleted_at IS NULL) AND (NOT (t.last_run_withheld AND (EXISTS ( SELECT
                       FROM defender_storage.withheld_deletions w
                      WHERE ((w.agent_key = a.agent_key) AND (w.run_id = t.last_run_id))))))) THEN t.last_fetched_at
                    ELSE ( SELECT r.fetched_at
                       FROM defender.sync_runs r
                      WHERE ((r.tenant_id = a.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'succeeded'::text) AND (r.run_id < COALESCE(a.deleted_by_run_id, '9223372036854775807'::bigint)) AND (NOT (EXISTS ( SELECT
                               FROM defender_storage.withheld_deletions w
                              WHERE ((w.agent_key = a.agent_key) AND (w.run_id = r.run_id))))))
                      ORDER BY r.run_id DESC
                     LIMIT 1)
                END AS last_synced_at,
            a.deleted_at
           FROM ((defender_storage.agent_state a
             LEFT JOIN defender_storage.agent_heartbeat hb ON ((hb.agent_key = a.agent_key)))
             LEFT JOIN ( SELECT t_1.tenant_id,
                    t_1.last_run_id,
                    t_1.last_fetched_at,
                    (EXISTS ( SELECT
                           FROM defender_storage.withheld_deletions w
                          WHERE (w.run_id = t_1.last_run_id))) AS last_run_withheld
                   FROM defender_storage.tenants t_1) t ON ((t.tenant_id = a.tenant_id)))) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

COMMENT ON VIEW defender.scan_agents IS 'One row per scan agent ever seen, with its current values. Active agents have an empty deleted_at.';

COMMENT ON COLUMN defender.scan_agents.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';

COMMENT ON COLUMN defender.scan_agents.agent_id IS 'Defender id of the scan agent (<guid>_<hash>).';

COMMENT ON COLUMN defender.scan_agents.machine_id IS 'Defender device id of the machine running the scanner.';

COMMENT ON COLUMN defender.scan_agents.computer_dns_name IS 'Host name of the machine running the scanner.';

COMMENT ON COLUMN defender.scan_agents.assigned_application_id IS 'Microsoft Entra application (client) id the scanner runs as.';

COMMENT ON COLUMN defender.scan_agents.scanner_software_version IS 'Version of the scanner software, as reported.';

COMMENT ON COLUMN defender.scan_agents.mde_client_version IS 'Version of the Microsoft Defender for Endpoint client on the machine, as reported. Order with defender.version_key().';

COMMENT ON COLUMN defender.scan_agents.last_seen IS 'When the agent last checked in with Defender (UTC); empty if never.';

COMMENT ON COLUMN defender.scan_agents.last_command_execution_at IS 'When the scanner last ran a command (UTC); empty if never.';

COMMENT ON COLUMN defender.scan_agents.extra IS 'Fields the API sent that have no column of their own, with their names exactly as sent (JSON object).';

COMMENT ON COLUMN defender.scan_agents.first_seen_at IS 'Fetch time of the first sync that returned the agent.';

COMMENT ON COLUMN defender.scan_agents.last_synced_at IS 'Fetch time of the latest successful sync that returned the agent.';

COMMENT ON COLUMN defender.scan_agents.deleted_at IS 'When a complete sync first no longer returned the agent; empty while active, cleared if it returns.';

-- defender.scan_coverage

CREATE VIEW defender.scan_coverage WITH (security_barrier='true') AS
 SELECT v.tenant_id,
    v.definition_id,
    v.scan_name,
    v.scan_type,
    v.target,
    v.interval_hours,
    v.last_scan_at,
    v.last_status,
    v.last_outcome,
    v.last_success_at,
    v.last_failure_at,
    v.consecutive_failures,
    v.scanner_agent_id,
    v.scanner_host,
    v.scanner_last_seen,
    v.scanner_stale,
    v.scanner_deleted,
    v.as_of_run_id,
    v.as_of_fetched_at,
    v.history_run_id,
    v.history_fetched_at
   FROM ( SELECT d.tenant_id,
            d.definition_id,
            d.scan_name,
            d.scan_type,
            d.target,
            d.interval_hours,
            latest.scanned_at AS last_scan_at,
            latest.status AS last_status,
            defender.scan_outcome(latest.status) AS last_outcome,
            ok.scanned_at AS last_success_at,
            bad.scanned_at AS last_failure_at,
            ( SELECT (count(*))::integer AS count
                   FROM defender_storage.session_result s
                  WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at > COALESCE(streak.scanned_at, '-infinity'::timestamp with time zone)) AND (defender.scan_outcome(s.status) = 'failure'::text))) AS consecutive_failures,
            d.scanner_agent_id,
            a.computer_dns_name AS scanner_host,
            hb.last_seen AS scanner_last_seen,
                CASE
                    WHEN (a.agent_key IS NOT NULL) THEN ((hb.last_seen IS NULL) OR (hb.last_seen < (t.last_fetched_at - '7 days'::interval)))
                    ELSE NULL::boolean
                END AS scanner_stale,
                CASE
                    WHEN (a.agent_key IS NOT NULL) THEN (a.deleted_at IS NOT NULL)
                    ELSE NULL::boolean
                END AS scanner_deleted,
            dr.run_id AS as_of_run_id,
            dr.fetched_at AS as_of_fetched_at,
            hr.run_id AS history_run_id,
            hr.fetched_at AS history_fetched_at
           FROM (((((((((defender_storage.definition_state d
             LEFT JOIN defender_storage.tenants t ON ((t.tenant_id = d.tenant_id)))
             LEFT JOIN defender_storage.agent_state a ON (((a.tenant_id = d.tenant_id) AND (a.agent_id = d.scanner_agent_id))))
             LEFT JOIN defender_storage.agent_heartbeat hb ON ((hb.agent_key = a.agent_key)))
             LEFT JOIN LATERAL ( SELECT s.scanned_at,
                    s.status
                   FROM defender_storage.session_result s
                  WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL))
                  ORDER BY s.scanned_at DESC
                 LIMIT 1) latest ON (true))
             LEFT JOIN LATERAL ( SELECT s.scanned_at
                   FROM defender_storage.session_result s
                  WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL) AND (defender.scan_outcome(s.status) = 'success'::text))
                  ORDER BY s.scanned_at DESC
                 LIMIT 1) ok ON (true))
             LEFT JOIN LATERAL ( SELECT s.scanned_at
                   FROM defender_storage.session_result s
                  WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL) AND (defender.scan_outcome(s.status) = 'failure'::text))
                  ORDER BY s.scanned_at DESC
                 LIMIT 1) bad ON (true))
             LEFT JOIN LATERAL ( SELECT s.scanned_at
                   FROM defender_storage.session_result s
                  WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL) AND (defender.scan_outcome(s.status) = ANY (ARRAY['success'::text, 'partial'::text])))
                  ORDER BY s.scanned_at DESC
                 LIMIT 1) streak ON (true))
             LEFT JOIN LATERAL ( SELECT r.run_id,
                    r.fetched_at
                   FROM defender.sync_runs r
                  WHERE ((r.tenant_id = d.tenant_id) AND (r.resource = 'definitions'::text) AND (r.status = 'succeeded'::text))
                  ORDER BY r.fetched_at DESC
                 LIMIT 1) dr ON (true))
             LEFT JOIN LATERAL ( SELECT r.run_id,
                    r.fetched_at
                   FROM defender.sync_runs r
                  WHERE ((r.tenant_id = d.tenant_id) AND (r.resource = 'history'::text) AND (r.status = 'succeeded'::text))
                  ORDER BY r.fetched_at DESC
                 LIMIT 1) hr ON (true))
          WHERE ((d.deleted_at IS NULL) AND d.is_active)) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

COMMENT ON VIEW defender.scan_coverage IS 'One row per active scan definition (listed and switched on): when it last ran, last succeeded and last failed, how many runs in a row failed, and its scanner agent with whether that agent is stale or deleted. An auditor''s first question: which scans are not doing their job.';

COMMENT ON COLUMN defender.scan_coverage.tenant_id IS 'Microsoft Entra tenant.';

COMMENT ON COLUMN defender.scan_coverage.definition_id IS 'Defender id of the scan definition.';

COMMENT ON COLUMN defender.scan_coverage.scan_name IS 'Display name of the scan.';

COMMENT ON COLUMN defender.scan_coverage.scan_type IS 'Kind of scan.';

COMMENT ON COLUMN defender.scan_coverage.target IS 'What the scan covers, as sent.';

COMMENT ON COLUMN defender.scan_coverage.interval_hours IS 'Hours between runs.';

COMMENT ON COLUMN defender.scan_coverage.last_scan_at IS 'When its latest recorded session ran; empty if none is recorded.';

COMMENT ON COLUMN defender.scan_coverage.last_status IS 'That session''s status, as sent.';

COMMENT ON COLUMN defender.scan_coverage.last_outcome IS 'last_status read by defender.scan_outcome: success, partial or failure.';

COMMENT ON COLUMN defender.scan_coverage.last_success_at IS 'When its latest fully successful session ran; empty if none.';

COMMENT ON COLUMN defender.scan_coverage.last_failure_at IS 'When its latest failed session ran; empty if none.';

COMMENT ON COLUMN defender.scan_coverage.consecutive_failures IS 'Failed sessions since its latest successful or partly successful one (all of them if none): 0 when the latest run did not fail.';

COMMENT ON COLUMN defender.scan_coverage.scanner_agent_id IS 'The scan agent that runs it (scan_agents.agent_id).';

COMMENT ON COLUMN defender.scan_coverage.scanner_host IS 'Host name of that agent''s machine; empty when the agent is unknown.';

COMMENT ON COLUMN defender.scan_coverage.scanner_last_seen IS 'When that agent last checked in.';

COMMENT ON COLUMN defender.scan_coverage.scanner_stale IS 'True when that agent has not checked in for 7 days before the tenant''s latest agents sync (or never); empty when the agent is not in scan_agents.';

COMMENT ON COLUMN defender.scan_coverage.scanner_deleted IS 'True when that agent is marked deleted in scan_agents; empty when it is not there at all.';

COMMENT ON COLUMN defender.scan_coverage.as_of_run_id IS 'The latest successful definitions sync of the tenant, which the definition''s values come from.';

COMMENT ON COLUMN defender.scan_coverage.as_of_fetched_at IS 'Fetch time of that sync.';

COMMENT ON COLUMN defender.scan_coverage.history_run_id IS 'The latest successful history sync of the tenant: sessions recorded up to it are counted.';

COMMENT ON COLUMN defender.scan_coverage.history_fetched_at IS 'Fetch time of that sync.';

-- defender.scan_definition_changes

CREATE VIEW defender.scan_definition_changes WITH (security_barrier='true') AS
 SELECT v.tenant_id,
    v.definition_id,
    v.changed_at,
    v.attribute,
    v.old_value,
    v.new_value,
    v.run_id,
    v.previous_sync_at
   FROM ( SELECT d.tenant_id,
            d.definition_id,
            v_1.valid_from AS changed_at,
            c.attribute,
            c.old_value,
            c.new_value,
            v_1.opened_by_run_id AS run_id,
            r.previous_sync_at
           FROM ((((defender_storage.definition_version v_1
             JOIN defender_storage.definition_state d ON ((d.definition_key = v_1.definition_key)))
             JOIN LATERAL ( SELECT p_1.version_id,
                    p_1.definition_key,
                    p_1.scan_name,
                    p_1.scan_type,
                    p_1.is_active,
                    p_1.interval_hours,
                    p_1.target,
                    p_1.target_type,
                    p_1.scanner_agent_id,
                    p_1.auth_variant,
                    p_1.auth_type,
                    p_1.created_by,
                    p_1.extra,
                    p_1.valid_from,
                    p_1.valid_to,
                    p_1.opened_by_run_id,
                    p_1.closed_by_run_id
                   FROM defender_storage.definition_version p_1
                  WHERE ((p_1.definition_key = v_1.definition_key) AND (p_1.valid_from < v_1.valid_from))
                  ORDER BY p_1.valid_from DESC
                 LIMIT 1) p ON (true))
             CROSS JOIN LATERAL ( VALUES ('scan_name'::text,p.scan_name,v_1.scan_name), ('scan_type'::text,p.scan_type,v_1.scan_type), ('is_active'::text,(p.is_active)::text,(v_1.is_active)::text), ('interval_hours'::text,(p.interval_hours)::text,(v_1.interval_hours)::text), ('target'::text,p.target,v_1.target), ('target_type'::text,p.target_type,v_1.target_type), ('scanner_agent_id'::text,p.scanner_agent_id,v_1.scanner_agent_id), ('auth_variant'::text,p.auth_variant,v_1.auth_variant), ('auth_type'::text,p.auth_type,v_1.auth_type), ('created_by'::text,p.created_by,v_1.created_by)) c(attribute, old_value, new_value))
             JOIN defender.sync_runs r ON ((r.run_id = v_1.opened_by_run_id)))
          WHERE (c.old_value IS DISTINCT FROM c.new_value)
        UNION ALL
         SELECT d.tenant_id,
            d.definition_id,
            v_1.valid_from AS changed_at,
            ('extra.'::text || k.key) AS attribute,
            ((p.extra -> k.key) #>> '{}'::text[]) AS old_value,
            ((v_1.extra -> k.key) #>> '{}'::text[]) AS new_value,
            v_1.opened_by_run_id AS run_id,
            r.previous_sync_at
           FROM ((((defender_storage.definition_version v_1
             JOIN defender_storage.definition_state d ON ((d.definition_key = v_1.definition_key)))
             JOIN LATERAL ( SELECT p_1.extra
                   FROM defender_storage.definition_version p_1
                  WHERE ((p_1.definition_key = v_1.definition_key) AND (p_1.valid_from < v_1.valid_from))
                  ORDER BY p_1.valid_from DESC
                 LIMIT 1) p ON (true))
             CROSS JOIN LATERAL ( SELECT jsonb_object_keys(p.extra) AS jsonb_object_keys
                UNION
                 SELECT jsonb_object_keys(v_1.extra) AS jsonb_object_keys) k(key))
             JOIN defender.sync_runs r ON ((r.run_id = v_1.opened_by_run_id)))
          WHERE ((p.extra IS DISTINCT FROM v_1.extra) AND ((p.extra -> k.key) IS DISTINCT FROM (v_1.extra -> k.key)))
        UNION ALL
         SELECT d.tenant_id,
            d.definition_id,
            v_1.valid_from AS changed_at,
            'definition'::text AS attribute,
                CASE
                    WHEN (p.valid_to IS NOT NULL) THEN 'deleted'::text
                    ELSE NULL::text
                END AS old_value,
                CASE
                    WHEN (p.valid_to IS NOT NULL) THEN 'returned'::text
                    ELSE 'first seen'::text
                END AS new_value,
            v_1.opened_by_run_id AS run_id,
            r.previous_sync_at
           FROM (((defender_storage.definition_version v_1
             JOIN defender_storage.definition_state d ON ((d.definition_key = v_1.definition_key)))
             LEFT JOIN LATERAL ( SELECT p_1.valid_to
                   FROM defender_storage.definition_version p_1
                  WHERE ((p_1.definition_key = v_1.definition_key) AND (p_1.valid_from < v_1.valid_from))
                  ORDER BY p_1.valid_from DESC
                 LIMIT 1) p ON (true))
             JOIN defender.sync_runs r ON ((r.run_id = v_1.opened_by_run_id)))
          WHERE ((p.valid_to IS NULL) OR (p.valid_to < v_1.valid_from))
        UNION ALL
         SELECT d.tenant_id,
            d.definition_id,
            v_1.valid_to AS changed_at,
            'definition'::text AS attribute,
            'listed'::text AS old_value,
            'deleted'::text AS new_value,
            v_1.closed_by_run_id AS run_id,
            r.previous_sync_at
           FROM ((defender_storage.definition_version v_1
             JOIN defender_storage.definition_state d ON ((d.definition_key = v_1.definition_key)))
             JOIN defender.sync_runs r ON ((r.run_id = v_1.closed_by_run_id)))
          WHERE ((v_1.valid_to IS NOT NULL) AND (NOT (EXISTS ( SELECT
                   FROM defender_storage.definition_version n
                  WHERE ((n.definition_key = v_1.definition_key) AND (n.valid_from = v_1.valid_to))))))) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

COMMENT ON VIEW defender.scan_definition_changes IS 'One row per changed attribute of a scan definition, from its history: edits of its name, interval, target, scanner agent (a scan moved to another agent), activation, authentication kind, fields without a column (attribute extra.<name>), and the definition itself being first seen, deleted or returning (attribute definition).';

COMMENT ON COLUMN defender.scan_definition_changes.tenant_id IS 'Microsoft Entra tenant the definition belongs to.';

COMMENT ON COLUMN defender.scan_definition_changes.definition_id IS 'Defender id of the scan definition.';

COMMENT ON COLUMN defender.scan_definition_changes.changed_at IS 'Fetch time of the sync that saw the change.';

COMMENT ON COLUMN defender.scan_definition_changes.attribute IS 'What changed: a column name of scan_definitions, extra.<field name as sent>, or definition (first seen, deleted, returned).';

COMMENT ON COLUMN defender.scan_definition_changes.old_value IS 'Value before the change, as text; empty if there was none.';

COMMENT ON COLUMN defender.scan_definition_changes.new_value IS 'Value after the change, as text; empty if there is none.';

COMMENT ON COLUMN defender.scan_definition_changes.run_id IS 'The sync run that saw the change.';

COMMENT ON COLUMN defender.scan_definition_changes.previous_sync_at IS 'Fetch time of the previous successful definitions sync of the tenant: the change happened in (previous_sync_at, changed_at]. Empty for changes seen by the first.';

-- defender.scan_definitions

CREATE VIEW defender.scan_definitions WITH (security_barrier='true') AS
 SELECT v.tenant_id,
    v.definition_id,
    v.scan_name,
    v.scan_type,
    v.is_active,
    v.interval_hours,
    v.target,
    v.target_type,
    v.scanner_agent_id,
    v.auth_variant,
    v.auth_type,
    v.created_by,
    v.extra,
    v.first_seen_at,
    v.last_synced_at,
    v.as_of_run_id,
    v.deleted_at
   FROM ( SELECT d.tenant_id,
            d.definition_id,
            d.scan_name,
            d.scan_type,
            d.is_active,
            d.interval_hours,
            d.target,
            d.target_type,
            d.scanner_agent_id,
            d.auth_variant,
            d.auth_type,
            d.created_by,
            d.extra,
            d.first_seen_at,
            r.fetched_at AS last_synced_at,
            r.run_id AS as_of_run_id,
            d.deleted_at
           FROM (defender_storage.definition_state d
             LEFT JOIN LATERAL ( SELECT r_1.run_id,
                    r_1.fetched_at
                   FROM defender.sync_runs r_1
                  WHERE ((r_1.tenant_id = d.tenant_id) AND (r_1.resource = 'definitions'::text) AND (r_1.status = 'succeeded'::text) AND (r_1.fetched_at < COALESCE(d.deleted_at, 'infinity'::timestamp with time zone)) AND (NOT (EXISTS ( SELECT
                           FROM defender_storage.definition_withheld w
                          WHERE ((w.definition_key = d.definition_key) AND (w.run_id = r_1.run_id))))))
                  ORDER BY r_1.fetched_at DESC
                 LIMIT 1) r ON (true))) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

COMMENT ON VIEW defender.scan_definitions IS 'One row per scan definition ever seen, with its current values: which scans each agent runs. Listed definitions have an empty deleted_at. No credential is stored: of the authentication only auth_variant and auth_type.';

COMMENT ON COLUMN defender.scan_definitions.tenant_id IS 'Microsoft Entra tenant the definition belongs to.';

COMMENT ON COLUMN defender.scan_definitions.definition_id IS 'Defender id of the scan definition.';

COMMENT ON COLUMN defender.scan_definitions.scan_name IS 'Display name of the scan.';

COMMENT ON COLUMN defender.scan_definitions.scan_type IS 'Kind of scan: Network, Windows (retired), Linux, AdvancedActive, as sent.';

COMMENT ON COLUMN defender.scan_definitions.is_active IS 'Whether the scan is switched on; empty when not sent.';

COMMENT ON COLUMN defender.scan_definitions.interval_hours IS 'Hours between runs; empty when not sent.';

COMMENT ON COLUMN defender.scan_definitions.target IS 'What the scan covers: IP addresses, ranges or host names, comma-separated, as sent.';

COMMENT ON COLUMN defender.scan_definitions.target_type IS 'How to read target: Ip, Hostname or Combined.';

COMMENT ON COLUMN defender.scan_definitions.scanner_agent_id IS 'The scan agent that runs the scan: joins scan_agents.agent_id.';

COMMENT ON COLUMN defender.scan_definitions.auth_variant IS 'Kind of credentials the scan uses (SnmpAuthParams, WindowsAuthParams, LinuxAuthParams).';

COMMENT ON COLUMN defender.scan_definitions.auth_type IS 'Authentication type within the variant (CommunityString, AuthPriv, Kerberos, PrivateKey...).';

COMMENT ON COLUMN defender.scan_definitions.created_by IS 'Identity that created the definition.';

COMMENT ON COLUMN defender.scan_definitions.extra IS 'Fields the API sent that have no column of their own, with their names exactly as sent (JSON object).';

COMMENT ON COLUMN defender.scan_definitions.first_seen_at IS 'Fetch time of the first definitions sync that returned it.';

COMMENT ON COLUMN defender.scan_definitions.last_synced_at IS 'Fetch time of the latest successful definitions sync that returned it: the sync these values come from.';

COMMENT ON COLUMN defender.scan_definitions.as_of_run_id IS 'That sync run.';

COMMENT ON COLUMN defender.scan_definitions.deleted_at IS 'When a complete sync first no longer returned it; empty while listed, cleared if it returns.';

-- defender.tenant_sync_status

CREATE VIEW defender.tenant_sync_status WITH (security_barrier='true') AS
 SELECT v.tenant_id,
    v.tenant_name,
    v.latest_status,
    v.latest_run_id,
    v.latest_finished_at,
    v.last_success_run_id,
    v.last_success_at,
    v.last_failure_run_id,
    v.last_failure_at,
    v.last_failure_error,
    v.active_agents,
    v.stale_7d_agents,
    v.deletions_withheld,
    v.running_since
   FROM ( SELECT t.tenant_id,
            t.display_name AS tenant_name,
            latest.status AS latest_status,
            latest.run_id AS latest_run_id,
            latest.finished_at AS latest_finished_at,
            t.last_run_id AS last_success_run_id,
            t.last_fetched_at AS last_success_at,
            failure.run_id AS last_failure_run_id,
            failure.finished_at AS last_failure_at,
            failure.error AS last_failure_error,
            COALESCE(fleet.active_agents, 0) AS active_agents,
            COALESCE(fleet.stale_7d_agents, 0) AS stale_7d_agents,
            COALESCE(success.deletions_withheld, 0) AS deletions_withheld,
            running.started_at AS running_since
           FROM (((((defender_storage.tenants t
             LEFT JOIN LATERAL ( SELECT r.run_id,
                    r.status,
                    r.finished_at
                   FROM defender.sync_runs r
                  WHERE ((r.tenant_id = t.tenant_id) AND (r.resource = 'agents'::text) AND (r.status <> 'running'::text))
                  ORDER BY r.run_id DESC
                 LIMIT 1) latest ON (true))
             LEFT JOIN LATERAL ( SELECT r.run_id,
                    r.finished_at,
                    r.error
                   FROM defender.sync_runs r
                  WHERE ((r.tenant_id = t.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'failed'::text))
                  ORDER BY r.run_id DESC
                 LIMIT 1) failure ON (true))
             LEFT JOIN defender.sync_runs success ON ((success.run_id = t.last_run_id)))
             LEFT JOIN defender.sync_runs running ON (((running.tenant_id = t.tenant_id) AND (running.resource = 'agents'::text) AND (running.status = 'running'::text))))
             LEFT JOIN defender_storage.tenant_daily fleet ON (((fleet.tenant_id = t.tenant_id) AND (fleet.day = defender.utc_day(t.last_fetched_at)))))) v
  WHERE ((( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants) IS NULL) OR (v.tenant_id = ANY (( SELECT defender_storage.visible_tenants(CURRENT_USER) AS visible_tenants)::text[])));

COMMENT ON VIEW defender.tenant_sync_status IS 'One row per tenant ever synced: how its latest sync of scan agents ended, its latest success and failure, and its fleet as the latest success saw it.';

COMMENT ON COLUMN defender.tenant_sync_status.tenant_id IS 'Microsoft Entra tenant.';

COMMENT ON COLUMN defender.tenant_sync_status.tenant_name IS 'Display name of the tenant from the configuration; empty when none.';

COMMENT ON COLUMN defender.tenant_sync_status.latest_status IS 'How the tenant''s latest finished sync ended: succeeded or failed; empty before the first.';

COMMENT ON COLUMN defender.tenant_sync_status.latest_run_id IS 'That sync.';

COMMENT ON COLUMN defender.tenant_sync_status.latest_finished_at IS 'When it ended.';

COMMENT ON COLUMN defender.tenant_sync_status.last_success_run_id IS 'The tenant''s latest successful sync; empty before the first.';

COMMENT ON COLUMN defender.tenant_sync_status.last_success_at IS 'Fetch time of that sync.';

COMMENT ON COLUMN defender.tenant_sync_status.last_failure_run_id IS 'The tenant''s latest failed sync; empty when none failed.';

COMMENT ON COLUMN defender.tenant_sync_status.last_failure_at IS 'When it ended.';

COMMENT ON COLUMN defender.tenant_sync_status.last_failure_error IS 'Why it failed.';

COMMENT ON COLUMN defender.tenant_sync_status.active_agents IS 'Agents active at the latest successful sync.';

COMMENT ON COLUMN defender.tenant_sync_status.stale_7d_agents IS 'Of those, agents whose last_seen was 7 days or more before that sync.';

COMMENT ON COLUMN defender.tenant_sync_status.deletions_withheld IS 'Deletions the latest successful sync withheld (0 when none).';

COMMENT ON COLUMN defender.tenant_sync_status.running_since IS 'Start of the sync of the tenant running now, if any: past the sync timeout, it is stuck.';


-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.scan_agents_diff(from_at timestamp with time zone, to_at timestamp with time zone, tenant text, viewer name) RETURNS TABLE(tenant_id text, agent_id text, change text, changed_columns text[], old_machine_id text, new_machine_id text, old_computer_dns_name text, new_computer_dns_name text, old_assigned_application_id text, new_assigned_application_id text, old_scanner_software_version text, new_scanner_software_version text, old_mde_client_version text, new_mde_client_version text, old_extra jsonb, new_extra jsonb, from_run_id bigint, from_fetched_at timestamp with time zone, to_run_id bigint, to_fetched_at timestamp with time zone)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    AS $$
#variable_conflict use_column
BEGIN
    IF from_at IS NULL OR to_at IS NULL THEN
        RAISE EXCEPTION 'scan_agents_diff: from and to must both be given'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF from_at > to_at THEN
        RAISE EXCEPTION 'scan_agents_diff: from (%) is after to (%)', from_at, to_at
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give the earlier time first.';
    END IF;
    RETURN QUERY
    WITH syncs AS MATERIALIZED (
        -- Per tenant, the sync each side reflects (none before its first).
        SELECT t.tenant_id, f.run_id AS from_run_id, f.fetched_at AS from_fetched_at,
               n.run_id AS to_run_id, n.fetched_at AS to_fetched_at
          FROM defender_storage.tenants t
          LEFT JOIN LATERAL (SELECT r.run_id, r.fetched_at FROM defender.sync_runs r
                              WHERE r.tenant_id = t.tenant_id AND r.resource = 'agents' AND r.status = 'succeeded'
                                AND r.fetched_at <= scan_agents_diff.from_at
                              ORDER BY r.fetched_at DESC LIMIT 1) f ON true
          LEFT JOIN LATERAL (SELECT r.run_id, r.fetched_at FROM defender.sync_runs r
                              WHERE r.tenant_id = t.tenant_id AND r.resource = 'agents' AND r.status = 'succeeded'
                                AND r.fetched_at <= scan_agents_diff.to_at
                              ORDER BY r.fetched_at DESC LIMIT 1) n ON true
         WHERE (scan_agents_diff.tenant IS NULL OR t.tenant_id = lower(scan_agents_diff.tenant))
           AND ((SELECT defender_storage.visible_tenants(scan_agents_diff.viewer)) IS NULL OR t.tenant_id = ANY ((SELECT defender_storage.visible_tenants(scan_agents_diff.viewer))::text[]))
    ), before_fleet AS MATERIALIZED (
        SELECT a.* FROM defender_storage.scan_agents_as_of(scan_agents_diff.from_at, scan_agents_diff.viewer, scan_agents_diff.tenant) a
         WHERE scan_agents_diff.tenant IS NULL OR a.tenant_id = lower(scan_agents_diff.tenant)
    ), after_fleet AS MATERIALIZED (
        SELECT a.* FROM defender_storage.scan_agents_as_of(scan_agents_diff.to_at, scan_agents_diff.viewer, scan_agents_diff.tenant) a
         WHERE scan_agents_diff.tenant IS NULL OR a.tenant_id = lower(scan_agents_diff.tenant)
    ), pairs AS (
        SELECT coalesce(o.tenant_id, n.tenant_id) AS tenant_id, coalesce(o.agent_id, n.agent_id) AS agent_id,
               o.agent_id IS NOT NULL AS was_there, n.agent_id IS NOT NULL AS is_there,
               o.machine_id AS old_machine_id, n.machine_id AS new_machine_id,
               o.computer_dns_name AS old_computer_dns_name, n.computer_dns_name AS new_computer_dns_name,
               o.assigned_application_id AS old_assigned_application_id,
               n.assigned_application_id AS new_assigned_application_id,
               o.scanner_software_version AS old_scanner_software_version,
               n.scanner_software_version AS new_scanner_software_version,
               o.mde_client_version AS old_mde_client_version, n.mde_client_version AS new_mde_client_version,
               o.extra AS old_extra, n.extra AS new_extra,
               array_remove(ARRAY[
                   CASE WHEN o.machine_id IS DISTINCT FROM n.machine_id THEN 'machine_id' END,
                   CASE WHEN o.computer_dns_name IS DISTINCT FROM n.computer_dns_name THEN 'computer_dns_name' END,
                   CASE WHEN o.assigned_application_id IS DISTINCT FROM n.assigned_application_id THEN 'assigned_application_id' END,
                   CASE WHEN o.scanner_software_version IS DISTINCT FROM n.scanner_software_version THEN 'scanner_software_version' END,
                   CASE WHEN o.mde_client_version IS DISTINCT FROM n.mde_client_version THEN 'mde_client_version' END,
                   CASE WHEN o.extra IS DISTINCT FROM n.extra THEN 'extra' END
               ], NULL) AS changed_columns
          FROM before_fleet o
          FULL JOIN after_fleet n ON n.tenant_id = o.tenant_id AND n.agent_id = o.agent_id
    )
    SELECT p.tenant_id, p.agent_id,
           CASE WHEN p.was_there AND p.is_there THEN 'changed'
                WHEN p.was_there THEN 'deleted'
                -- Absent at from but seen by a sync at or before it: back.
                WHEN EXISTS (SELECT FROM defender_storage.agent_state a
                              WHERE a.tenant_id = p.tenant_id AND a.agent_id = p.agent_id
                                AND a.first_seen_at <= s.from_fetched_at) THEN 'returned'
                ELSE 'appeared' END,
           CASE WHEN p.was_there AND p.is_there THEN p.changed_columns ELSE '{}'::text[] END,
           p.old_machine_id, p.new_machine_id, p.old_computer_dns_name, p.new_computer_dns_name,
           p.old_assigned_application_id, p.new_assigned_application_id,
           p.old_scanner_software_version, p.new_scanner_software_version,
           p.old_mde_client_version, p.new_mde_client_version, p.old_extra, p.new_extra,
           s.from_run_id, s.from_fetched_at, s.to_run_id, s.to_fetched_at
      FROM pairs p
      JOIN syncs s ON s.tenant_id = p.tenant_id
     WHERE NOT (p.was_there AND p.is_there) OR p.changed_columns <> '{}'
     ORDER BY p.tenant_id, p.agent_id;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.record_run_digest(run bigint, at_upgrade boolean DEFAULT false) RETURNS bytea
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    stored bytea;
BEGIN
    -- The sessions the run wrote, as it left them. At the upgrade every
    -- earlier writer is known, not the values it wrote: they are taken
    -- as they are now.
    INSERT INTO defender_storage.session_write (run_id, session_key, values_digest)
    SELECT run, s.session_key, defender_storage.session_digest(s)
      FROM defender_storage.session_result s
     WHERE (s.recorded_by_run_id = run AND (at_upgrade OR s.updated_by_run_id IS NULL))
        OR s.updated_by_run_id = run;
    INSERT INTO defender_storage.run_digest (run_id, previous_run_id, digest, parts, computed_at_upgrade)
    SELECT r.run_id, p.run_id, defender_storage.chain_digest(p.digest, x.parts), x.parts, at_upgrade
      FROM defender.sync_runs r
     CROSS JOIN LATERAL (SELECT q.digest_parts AS parts FROM defender_storage.run_digest_parts(ARRAY[r.run_id]) q) x
      LEFT JOIN LATERAL (
           SELECT d.run_id, d.digest
             FROM defender.sync_runs q
             JOIN defender_storage.run_digest d ON d.run_id = q.run_id
            WHERE q.tenant_id = r.tenant_id AND q.resource = r.resource AND q.status = 'succeeded' AND q.run_id < r.run_id
            ORDER BY q.run_id DESC
            LIMIT 1) p ON true
     WHERE r.run_id = run AND r.status = 'succeeded'
    RETURNING digest INTO stored;
    IF stored IS NULL THEN
        RAISE EXCEPTION 'run % is not a succeeded run: only successful runs have a digest', run;
    END IF;
    RETURN stored;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.run_digest_parts(runs bigint[]) RETURNS TABLE(digested_run_id bigint, digest_parts bytea)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
BEGIN
RETURN QUERY SELECT r.run_id,
    -- 1. The run: its row of sync_runs.
    pg_catalog.sha256(
        defender_storage.digest_field(r.run_id::text) || defender_storage.digest_field(r.tenant_id)
        || defender_storage.digest_field(r.resource) || defender_storage.digest_field(r.status)
        || defender_storage.digest_time(r.fetched_at)
        || defender_storage.digest_time(r.previous_sync_at)
        || defender_storage.digest_field(r.agents_seen::text) || defender_storage.digest_field(r.agents_inserted::text)
        || defender_storage.digest_field(r.agents_changed::text) || defender_storage.digest_field(r.agents_heartbeat_only::text)
        || defender_storage.digest_field(r.agents_unchanged::text) || defender_storage.digest_field(r.agents_deleted::text)
        || defender_storage.digest_field(r.agents_rejected::text) || defender_storage.digest_field(r.deletions_withheld::text)
        || defender_storage.digest_field(r.records_seen::text) || defender_storage.digest_field(r.records_inserted::text)
        || defender_storage.digest_field(r.records_changed::text) || defender_storage.digest_field(r.records_unchanged::text)
        || defender_storage.digest_field(r.records_deleted::text) || defender_storage.digest_field(r.records_rejected::text)
        || defender_storage.digest_field(r.targets_inserted::text) || defender_storage.digest_field(r.fields_repaired::text)
        || defender_storage.digest_field(r.api_requests::text))
    -- 2. The versions it opened (what later runs write of them, valid_to
    -- and closed_by_run_id, is theirs).
    || pg_catalog.sha256(coalesce((
        SELECT pg_catalog.string_agg(o.e, ''::bytea ORDER BY o.k COLLATE "C") FROM (
            SELECT h.agent_id AS k,
                   defender_storage.digest_field(h.tenant_id) || defender_storage.digest_field(h.agent_id)
                   || defender_storage.digest_field(h.machine_id) || defender_storage.digest_field(h.computer_dns_name)
                   || defender_storage.digest_field(h.assigned_application_id) || defender_storage.digest_field(h.scanner_software_version)
                   || defender_storage.digest_field(h.mde_client_version) || defender_storage.digest_field(h.extra::text)
                   || defender_storage.digest_time(h.valid_from) AS e
              FROM defender.scan_agent_history h
             WHERE h.opened_by_run_id = r.run_id
            UNION ALL
            SELECT s.definition_id,
                   defender_storage.digest_field(s.tenant_id) || defender_storage.digest_field(s.definition_id)
                   || defender_storage.digest_field(v.scan_name) || defender_storage.digest_field(v.scan_type)
                   || defender_storage.digest_field(v.is_active::text) || defender_storage.digest_field(v.interval_hours::text)
                   || defender_storage.digest_field(v.target) || defender_storage.digest_field(v.target_type)
                   || defender_storage.digest_field(v.scanner_agent_id) || defender_storage.digest_field(v.auth_variant)
                   || defender_storage.digest_field(v.auth_type) || defender_storage.digest_field(v.created_by)
                   || defender_storage.digest_field(v.extra::text)
                   || defender_storage.digest_time(v.valid_from)
              FROM defender_storage.definition_version v
              JOIN defender_storage.definition_state s ON s.definition_key = v.definition_key
             WHERE v.opened_by_run_id = r.run_id) o), ''::bytea))
    -- 3. The versions it closed.
    || pg_catalog.sha256(coalesce((
        SELECT pg_catalog.string_agg(c.e, ''::bytea ORDER BY c.k COLLATE "C") FROM (
            SELECT h.agent_id AS k,
                   defender_storage.digest_field(h.tenant_id) || defender_storage.digest_field(h.agent_id)
                   || defender_storage.digest_time(h.valid_from)
                   || defender_storage.digest_time(h.valid_to) AS e
              FROM defender.scan_agent_history h
             WHERE h.closed_by_run_id = r.run_id
            UNION ALL
            SELECT s.definition_id,
                   defender_storage.digest_field(s.tenant_id) || defender_storage.digest_field(s.definition_id)
                   || defender_storage.digest_time(v.valid_from)
                   || defender_storage.digest_time(v.valid_to)
              FROM defender_storage.definition_version v
              JOIN defender_storage.definition_state s ON s.definition_key = v.definition_key
             WHERE v.closed_by_run_id = r.run_id) c), ''::bytea))
    -- 4. Its deletions: the records it marked deleted, and those whose
    -- version it closed without opening another (a deletion, as the
    -- history keeps it). Each is 'deleted' while it is marked deleted by
    -- this run at its fetch time, or has returned since (a later version
    -- opened, which clears the mark); else 'not deleted'.
    || pg_catalog.sha256(coalesce((
        SELECT pg_catalog.string_agg(d.e, ''::bytea ORDER BY d.k COLLATE "C") FROM (
            SELECT a.agent_id AS k,
                   defender_storage.digest_field(a.tenant_id) || defender_storage.digest_field(a.agent_id)
                   || defender_storage.digest_field(CASE
                          WHEN a.deleted_by_run_id = r.run_id AND a.deleted_at = r.fetched_at THEN 'deleted'
                          WHEN a.deleted_by_run_id IS DISTINCT FROM r.run_id
                           AND EXISTS (SELECT FROM defender.scan_agent_history l
                                        WHERE l.agent_key = a.agent_key AND l.valid_from > r.fetched_at) THEN 'deleted'
                          ELSE 'not deleted' END) AS e
              FROM (SELECT x.agent_key FROM defender_storage.agent_state x WHERE x.deleted_by_run_id = r.run_id
                    UNION
                    SELECT c.agent_key FROM defender.scan_agent_history c
                     WHERE c.closed_by_run_id = r.run_id
                       AND NOT EXISTS (SELECT FROM defender.scan_agent_history n
                                        WHERE n.agent_key = c.agent_key AND n.opened_by_run_id = r.run_id)) k
              JOIN defender_storage.agent_state a ON a.agent_key = k.agent_key
            UNION ALL
            SELECT s.definition_id,
                   defender_storage.digest_field(s.tenant_id) || defender_storage.digest_field(s.definition_id)
                   || defender_storage.digest_field(CASE
                          WHEN s.deleted_by_run_id = r.run_id AND s.deleted_at = r.fetched_at THEN 'deleted'
                          WHEN s.deleted_by_run_id IS DISTINCT FROM r.run_id
                           AND EXISTS (SELECT FROM defender_storage.definition_version l
                                        WHERE l.definition_key = s.definition_key AND l.valid_from > r.fetched_at) THEN 'deleted'
                          ELSE 'not deleted' END)
              FROM (SELECT x.definition_key FROM defender_storage.definition_state x WHERE x.deleted_by_run_id = r.run_id
                    UNION
                    SELECT c.definition_key FROM defender_storage.definition_version c
                     WHERE c.closed_by_run_id = r.run_id
                       AND NOT EXISTS (SELECT FROM defender_storage.definition_version n
                                        WHERE n.definition_key = c.definition_key AND n.opened_by_run_id = r.run_id)) k
              JOIN defender_storage.definition_state s ON s.definition_key = k.definition_key) d), ''::bytea))
    -- 5. The deletions it withheld.
    || pg_catalog.sha256(coalesce((
        SELECT pg_catalog.string_agg(w.e, ''::bytea ORDER BY w.k COLLATE "C") FROM (
            SELECT a.agent_id AS k, defender_storage.digest_field(a.tenant_id) || defender_storage.digest_field(a.agent_id) AS e
              FROM defender_storage.withheld_deletions x
              JOIN defender_storage.agent_state a ON a.agent_key = x.agent_key
             WHERE x.run_id = r.run_id
            UNION ALL
            SELECT s.definition_id, defender_storage.digest_field(s.tenant_id) || defender_storage.digest_field(s.definition_id)
              FROM defender_storage.definition_withheld x
              JOIN defender_storage.definition_state s ON s.definition_key = x.definition_key
             WHERE x.run_id = r.run_id) w), ''::bytea))
    -- 6. Its observations: the row of its tenant at its fetch time, one
    -- entry per agent.
    || pg_catalog.sha256(coalesce((
        SELECT pg_catalog.string_agg(
                   defender_storage.digest_field(a.agent_id)
                   || defender_storage.digest_time(x.last_seen)
                   || defender_storage.digest_time(x.last_command_execution_at),
                   ''::bytea ORDER BY a.agent_id COLLATE "C")
          FROM defender_storage.observation o
         CROSS JOIN LATERAL unnest(o.agent_nos, o.last_seen, o.last_command_execution_at)
               x(agent_no, last_seen, last_command_execution_at)
          LEFT JOIN defender_storage.agent_state a ON a.tenant_id = r.tenant_id AND a.agent_no = x.agent_no
         WHERE o.run_id = r.run_id AND o.observed_at = r.fetched_at), ''::bytea))
    -- 7. Its writes of sessions: the values it wrote, from the session
    -- while it is the latest writer, else as kept when it wrote them.
    || pg_catalog.sha256(coalesce((
        SELECT pg_catalog.string_agg(
                   defender_storage.digest_field(w.session_key::text)
                   || defender_storage.digest_field(CASE WHEN s.recorded_by_run_id = w.run_id THEN 'recorded' ELSE 'updated' END)
                   || defender_storage.digest_field(pg_catalog.encode(
                          CASE WHEN coalesce(s.updated_by_run_id, s.recorded_by_run_id) = w.run_id
                               THEN defender_storage.session_digest(s) ELSE w.values_digest END, 'hex')),
                   ''::bytea ORDER BY w.session_key)
          FROM defender_storage.session_write w
          JOIN defender_storage.session_result s ON s.session_key = w.session_key
         WHERE w.run_id = r.run_id), ''::bytea))
    -- 8. The targets of the sessions whose targets it stored.
    || pg_catalog.sha256(coalesce((
        SELECT pg_catalog.string_agg(
                   defender_storage.digest_field(t.session_key::text) || defender_storage.digest_field(t.ordinal::text)
                   || defender_storage.digest_field(t.ip) || defender_storage.digest_field(t.hostname)
                   || defender_storage.digest_field(t.description) || defender_storage.digest_field(t.status)
                   || defender_storage.digest_field(t.error_message)
                   || defender_storage.digest_field((EXTRACT(epoch FROM t.duration) * 1000000)::bigint::text)
                   || defender_storage.digest_field(t.extra::text),
                   ''::bytea ORDER BY t.session_key, t.ordinal)
          FROM defender_storage.session_result s
          -- Each session's targets by its key (the fence keeps the
          -- generic plan from hashing every target of every tenant).
         CROSS JOIN LATERAL (SELECT t1.* FROM defender_storage.target_result t1
                              WHERE t1.session_key = s.session_key OFFSET 0) t
         WHERE s.targets_run_id = r.run_id), ''::bytea))
  FROM defender.sync_runs r
 WHERE r.run_id = ANY (runs);
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.check_observed_agents() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    tenant text;
    found  integer;
BEGIN
    IF TG_TABLE_NAME = 'agent_state' THEN
        -- An agent removed or renumbered while an observation names it.
        IF EXISTS (SELECT FROM defender.sync_runs r
                     JOIN defender_storage.observation o ON o.run_id = r.run_id
                    WHERE r.tenant_id = OLD.tenant_id AND r.resource = 'agents'
                      AND OLD.agent_no = ANY (o.agent_nos)) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'foreign_key_violation',
                MESSAGE = 'update or delete on table "agent_state" violates constraint "observation_agents_exist"',
                DETAIL = pg_catalog.format('Agent %s of tenant %s is still named by observations.', OLD.agent_no, OLD.tenant_id),
                TABLE = 'agent_state', SCHEMA = 'defender_storage', CONSTRAINT = 'observation_agents_exist';
        END IF;
        RETURN NULL;
    END IF;
    -- A row of observation (of one of its partitions): every number names
    -- an agent of its run's tenant, locked against removal until the
    -- transaction ends, as a foreign key's check does.
    SELECT r.tenant_id INTO tenant FROM defender.sync_runs r WHERE r.run_id = NEW.run_id;
    SELECT count(*) INTO found FROM (
        SELECT FROM defender_storage.agent_state a
         WHERE a.tenant_id = tenant AND a.agent_no = ANY (NEW.agent_nos)
           FOR KEY SHARE OF a) k;
    IF found <> pg_catalog.cardinality(NEW.agent_nos) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'foreign_key_violation',
            MESSAGE = 'insert or update on table "observation" violates constraint "observation_agents_exist"',
            DETAIL = pg_catalog.format('%s of the agent numbers %s of run %s are not agents of tenant %s.',
                                       pg_catalog.cardinality(NEW.agent_nos) - found, NEW.agent_nos, NEW.run_id, tenant),
            TABLE = 'observation', SCHEMA = 'defender_storage', CONSTRAINT = 'observation_agents_exist';
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- The digests' parts whole again, recomputed from the rows (the
-- observations' part as kept, for runs whose observations retention
-- dropped): exactly as stored before, unless a run's rows were edited
-- since it wrote them.
ALTER TABLE defender_storage.run_digest DROP CONSTRAINT run_digest_parts_check;
UPDATE defender_storage.run_digest d
   SET parts = CASE WHEN r.resource = 'agents' AND r.fetched_at IS NOT NULL
                     AND pg_catalog.to_regclass('defender_storage.observation_'
                             || pg_catalog.to_char(r.fetched_at AT TIME ZONE 'UTC', 'YYYY_MM')) IS NULL
                    THEN overlay(x.digest_parts PLACING pg_catalog.substr(d.parts, 21, 32) FROM 161 FOR 32)
                    ELSE x.digest_parts END
  FROM defender_storage.run_digest_parts(ARRAY(SELECT e.run_id FROM defender_storage.run_digest e)) x,
       defender.sync_runs r
 WHERE x.digested_run_id = d.run_id AND r.run_id = d.run_id;
ALTER TABLE defender_storage.run_digest ADD CONSTRAINT run_digest_parts_check CHECK (pg_catalog.octet_length(parts) = 256);
COMMENT ON COLUMN defender_storage.run_digest.parts IS 'The SHA-256 of each of the run''s eight parts, concatenated: what verify compares to name the part that changed.';
DROP FUNCTION defender_storage.compact_digest_parts(bytea);

DROP TABLE defender_storage.sync_run;
DROP TABLE defender_storage.sync_worker;
DROP FUNCTION defender_storage.run_resource_name("char");
DROP FUNCTION defender_storage.run_status_name("char");
DROP FUNCTION defender_storage.run_resource_code(text);
ALTER TABLE defender_storage.tenants DROP COLUMN tenant_no;

SELECT defender.grant_reader_access();
