-- Reads the fetch time of the tenant's latest successful agents sync, and
-- makes the observation partition of a fetch time ready.
-- $1 tenant id, $2 fetch time.
SELECT (SELECT last_fetched_at FROM defender_storage.tenants WHERE tenant_id = $1),
       defender_storage.ensure_observation_partition($2)
