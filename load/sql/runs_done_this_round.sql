-- Tells whether a run of a tenant's resource that started at or after a
-- round's start has finished: a success (fetched after it started, so at
-- or after the round's start) or a failure.
-- $1 tenant id, $2 resource, $3 the round's start.
SELECT EXISTS (SELECT FROM defender_storage.sync_run r
                JOIN defender_storage.tenants t ON t.tenant_no = r.tenant_no
               WHERE t.tenant_id = $1 AND r.resource = defender_storage.run_resource_code($2)
                 AND r.status = 's' AND r.fetched_at >= $3 AND r.started_at >= $3)
    OR EXISTS (SELECT FROM defender_storage.sync_run r
                JOIN defender_storage.tenants t ON t.tenant_no = r.tenant_no
               WHERE t.tenant_id = $1 AND r.resource = defender_storage.run_resource_code($2)
                 AND r.status = 'f' AND r.started_at >= $3)
