-- Lists the ids of the tenant's definitions whose history a sync reads:
-- active, or deleted after the bound.
-- $1 tenant id, $2 the bound (timestamptz).
SELECT coalesce(pg_catalog.array_agg(definition_id ORDER BY definition_id), '{}')
  FROM defender_storage.definition_state
 WHERE tenant_id = $1 AND (deleted_at IS NULL OR deleted_at > $2)
