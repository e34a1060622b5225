-- Recounts the tenant's fleet for the day of a sync
-- (defender_storage.refresh_fleet_daily).
-- $1 tenant id, $2 fetch time.
SELECT defender_storage.refresh_fleet_daily($1, defender.utc_day($2))
