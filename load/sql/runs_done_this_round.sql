-- Tells whether a run of a tenant's resource that started at or after a
-- round's start has finished.
-- $1 tenant id, $2 resource, $3 the round's start.
SELECT EXISTS (SELECT FROM defender.sync_runs
                WHERE tenant_id = $1 AND resource = $2 AND status <> 'running' AND started_at >= $3)
