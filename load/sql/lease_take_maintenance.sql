-- Takes the lease of a maintenance task when nobody holds it or its
-- holder's lease expired.
-- $1 task, $2 holder, $3 duration in seconds.
INSERT INTO defender_storage.maintenance_leases AS m (task, holder, expires_at)
VALUES ($1, $2, pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => $3))
ON CONFLICT (task) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
 WHERE m.expires_at < pg_catalog.clock_timestamp()
