-- Reads the fetch time of the latest successful run of a tenant's
-- resource.
-- $1 tenant id, $2 resource.
SELECT max(fetched_at) FROM defender.sync_runs
 WHERE tenant_id = $1 AND resource = $2 AND status = 'succeeded'
