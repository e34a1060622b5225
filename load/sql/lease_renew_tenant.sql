-- Renews a tenant's lease held by a holder.
-- $1 tenant id, $2 holder, $3 duration in seconds.
UPDATE defender_storage.tenant_leases
   SET expires_at = pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => $3)
 WHERE tenant_id = $1 AND holder = $2
