-- Records a sync in the tenant's day: the day's latest run and sync, its
-- first sync and the number of syncs.
-- $1 tenant id, $2 fetch time, $3 run id.
INSERT INTO defender_storage.tenant_daily (tenant_id, day, run_id, synced_at, first_synced_at, syncs)
VALUES ($1, defender.utc_day($2), $3, $2, $2, 1)
ON CONFLICT (tenant_id, day) DO UPDATE
   SET run_id = excluded.run_id, synced_at = excluded.synced_at,
       syncs = defender_storage.tenant_daily.syncs + 1
