-- Records a run as running, after the tenant's row (created, or given its
-- new display name) and its worker's. Returns the run id.
-- $1 tenant id, $2 resource, $3 start time, $4 worker, $5 tenant display
-- name ('' for none).
WITH tenant AS (
	INSERT INTO defender_storage.tenants (tenant_id, display_name) VALUES ($1, nullif($5, ''))
	ON CONFLICT (tenant_id) DO UPDATE SET display_name = excluded.display_name
	 WHERE excluded.display_name IS NOT NULL
	   AND excluded.display_name IS DISTINCT FROM defender_storage.tenants.display_name
	RETURNING tenant_no
), worker AS (
	INSERT INTO defender_storage.sync_worker (worker) SELECT $4::text WHERE $4::text IS NOT NULL
	ON CONFLICT (worker) DO NOTHING
	RETURNING worker_no
)
INSERT INTO defender_storage.sync_run (tenant_no, resource, started_at, worker_no)
SELECT coalesce((SELECT tenant_no FROM tenant), (SELECT t.tenant_no FROM defender_storage.tenants t WHERE t.tenant_id = $1)),
       defender_storage.run_resource_code($2), $3,
       coalesce((SELECT worker_no FROM worker), (SELECT w.worker_no FROM defender_storage.sync_worker w WHERE w.worker = $4::text))
RETURNING run_id
