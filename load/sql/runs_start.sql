-- Records a run as running, after the tenant's row (created, or given its
-- new display name). Returns the run id.
-- $1 tenant id, $2 resource, $3 start time, $4 worker, $5 tenant display
-- name ('' for none).
WITH tenant AS (
	INSERT INTO defender_storage.tenants (tenant_id, display_name) VALUES ($1, nullif($5, ''))
	ON CONFLICT (tenant_id) DO UPDATE SET display_name = excluded.display_name
	 WHERE excluded.display_name IS NOT NULL
	   AND excluded.display_name IS DISTINCT FROM defender_storage.tenants.display_name
)
INSERT INTO defender.sync_runs (tenant_id, resource, started_at, worker)
VALUES ($1, $2, $3, $4)
RETURNING run_id
