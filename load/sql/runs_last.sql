-- Reads a tenant's latest agents run that tells how its syncs go: the
-- latest finished run, or a later one still running that started before
-- the bound (stuck).
-- $1 tenant id, $2 the bound (timestamptz).
SELECT run_id, status, started_at, fetched_at, finished_at, error
  FROM defender.sync_runs
 WHERE tenant_id = $1 AND resource = 'agents' AND (status <> 'running' OR started_at < $2)
 ORDER BY run_id DESC
 LIMIT 1
