-- How each tenant's syncs of scan agents go, in one row per tenant: what
-- agentsync status prints, and what a dashboard's "last sync per tenant"
-- panel reads.

-- +goose Up
-- The latest failed run and the latest finished run of a tenant, found
-- without scanning its years of runs.
CREATE INDEX sync_runs_failed_by_tenant ON defender.sync_runs (tenant_id, resource, run_id) WHERE status = 'failed';
CREATE INDEX sync_runs_finished_by_tenant ON defender.sync_runs (tenant_id, resource, run_id) WHERE status <> 'running';

CREATE VIEW defender.tenant_sync_status AS
SELECT t.tenant_id,
       t.display_name AS tenant_name,
       latest.status AS latest_status,
       latest.run_id AS latest_run_id,
       latest.finished_at AS latest_finished_at,
       t.last_run_id AS last_success_run_id,
       t.last_fetched_at AS last_success_at,
       failure.run_id AS last_failure_run_id,
       failure.finished_at AS last_failure_at,
       failure.error AS last_failure_error,
       coalesce(fleet.active_agents, 0) AS active_agents,
       coalesce(fleet.stale_7d_agents, 0) AS stale_7d_agents,
       coalesce(success.deletions_withheld, 0) AS deletions_withheld,
       running.started_at AS running_since
  FROM defender.tenants t
  LEFT JOIN LATERAL (SELECT r.run_id, r.status, r.finished_at FROM defender.sync_runs r
                      WHERE r.tenant_id = t.tenant_id AND r.resource = 'agents' AND r.status <> 'running'
                      ORDER BY r.run_id DESC LIMIT 1) latest ON true
  LEFT JOIN LATERAL (SELECT r.run_id, r.finished_at, r.error FROM defender.sync_runs r
                      WHERE r.tenant_id = t.tenant_id AND r.resource = 'agents' AND r.status = 'failed'
                      ORDER BY r.run_id DESC LIMIT 1) failure ON true
  LEFT JOIN defender.sync_runs success ON success.run_id = t.last_run_id
  LEFT JOIN defender.sync_runs running
    ON running.tenant_id = t.tenant_id AND running.resource = 'agents' AND running.status = 'running'
  LEFT JOIN defender.tenant_daily fleet
    ON fleet.tenant_id = t.tenant_id AND fleet.day = defender.utc_day(t.last_fetched_at);
COMMENT ON VIEW defender.tenant_sync_status IS
    'One row per tenant ever synced: how its latest sync of scan agents ended, its latest success and failure, and its fleet as the latest success saw it.';
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

SELECT defender.grant_reader_access();

-- +goose Down
DROP VIEW defender.tenant_sync_status;
DROP INDEX defender.sync_runs_finished_by_tenant;
DROP INDEX defender.sync_runs_failed_by_tenant;
