-- Reads the fetch time of the latest successful run of a tenant's
-- resource.
-- $1 tenant id, $2 resource.
SELECT max(r.fetched_at) FROM defender_storage.sync_run r
  JOIN defender_storage.tenants t ON t.tenant_no = r.tenant_no
 WHERE t.tenant_id = $1 AND r.resource = defender_storage.run_resource_code($2) AND r.status = 's'
