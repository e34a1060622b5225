-- Marks failed the runs of a tenant's resource left running by a process
-- that stopped.
-- $1 tenant id, $2 now, $3 the error recorded, $4 resource.
UPDATE defender_storage.sync_run r
   SET status = 'f', finished_at = greatest($2, r.started_at), error = $3
  FROM defender_storage.tenants t
 WHERE t.tenant_id = $1 AND r.tenant_no = t.tenant_no
   AND r.resource = defender_storage.run_resource_code($4) AND r.status = 'r'
