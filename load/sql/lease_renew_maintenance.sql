-- Renews the lease of a maintenance task held by a holder.
-- $1 task, $2 holder, $3 duration in seconds.
UPDATE defender_storage.maintenance_leases
   SET expires_at = pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => $3)
 WHERE task = $1 AND holder = $2
