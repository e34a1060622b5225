-- Reads the fetch time of the latest successful run of a tenant's
-- resource (null before the first).
-- $1 tenant id, $2 resource.
SELECT (SELECT r.fetched_at FROM defender_storage.sync_run r
         WHERE r.tenant_no = (SELECT t.tenant_no FROM defender_storage.tenants t WHERE t.tenant_id = $1)
           AND r.resource = defender_storage.run_resource_code($2) AND r.status = 's'
         ORDER BY r.fetched_at DESC
         LIMIT 1)
