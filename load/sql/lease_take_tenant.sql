-- Takes a tenant's lease when it is free or expired, after the tenant's
-- row, in a database before schema 40 (lease_take_tenant_call after).
-- (An existing tenant row is left as it is.) Returns whether it was taken,
-- the holder and expiry now stored, and whether the tenant is busy: a run
-- of it is marked running, or its holder took the lease or ended a run
-- within the grace.
-- $1 tenant id, $2 holder, $3 duration in seconds, $4 tenant display name
-- ('' for none), $5 the grace in seconds, $6 the sync timeout plus the
-- grace in seconds.
WITH tenant AS (
	INSERT INTO defender_storage.tenants (tenant_id, display_name) VALUES ($1, nullif($4, ''))
	ON CONFLICT (tenant_id) DO NOTHING
), taken AS (
	INSERT INTO defender_storage.tenant_leases AS t (tenant_id, holder, taken_at, expires_at)
	VALUES ($1, $2, pg_catalog.clock_timestamp(), pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => $3))
	ON CONFLICT (tenant_id) DO UPDATE
	   SET holder = excluded.holder, taken_at = excluded.taken_at, expires_at = excluded.expires_at
	 WHERE t.expires_at < pg_catalog.clock_timestamp()
	RETURNING t.holder
), held AS (
	SELECT holder, taken_at, expires_at FROM defender_storage.tenant_leases WHERE tenant_id = $1
)
SELECT EXISTS (SELECT FROM taken),
       (SELECT holder FROM held),
       (SELECT expires_at FROM held),
       EXISTS (SELECT FROM held WHERE taken_at > pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => $5))
       -- A run ended within the grace: a success (fetched after it
       -- started: found by fetch time) or a failure; or one running.
       OR EXISTS (SELECT FROM defender_storage.sync_run r
                    JOIN defender_storage.tenants t ON t.tenant_no = r.tenant_no
                   WHERE t.tenant_id = $1 AND r.resource IN ('a', 'd', 'h') AND r.status = 's'
                     AND r.fetched_at > pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => $6)
                     AND r.started_at > pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => $6)
                     AND r.finished_at > pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => $5))
       OR EXISTS (SELECT FROM defender_storage.sync_run r
                    JOIN defender_storage.tenants t ON t.tenant_no = r.tenant_no
                   WHERE t.tenant_id = $1 AND r.resource IN ('a', 'd', 'h') AND r.status = 'f'
                     AND r.started_at > pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => $6)
                     AND r.finished_at > pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => $5))
       OR EXISTS (SELECT FROM defender_storage.sync_run r
                    JOIN defender_storage.tenants t ON t.tenant_no = r.tenant_no
                   WHERE t.tenant_id = $1 AND r.resource IN ('a', 'd', 'h') AND r.status = 'r')
