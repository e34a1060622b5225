-- Makes a sync the tenant's latest.
-- $1 tenant id, $2 fetch time, $3 run id.
UPDATE defender_storage.tenants SET last_run_id = $3, last_fetched_at = $2 WHERE tenant_id = $1
