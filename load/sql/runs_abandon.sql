-- Marks failed the runs of a tenant's resource left running by a process
-- that stopped.
-- $1 tenant id, $2 now, $3 the error recorded, $4 resource.
UPDATE defender.sync_runs
   SET status = 'failed', finished_at = greatest($2, started_at), error = $3
 WHERE tenant_id = $1 AND resource = $4 AND status = 'running'
