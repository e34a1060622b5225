-- Reads a tenant's latest agents run that tells how its syncs go: the
-- latest finished run (its latest success or failure), or a later one
-- still running that started before the bound (stuck).
-- $1 tenant id, $2 the bound (timestamptz).
SELECT x.run_id, defender_storage.run_status_name(x.status), x.started_at, x.fetched_at, x.finished_at, nullif(x.error, '')
  FROM defender_storage.tenants t
 CROSS JOIN LATERAL (
       (SELECT r.* FROM defender_storage.sync_run r
         WHERE r.tenant_no = t.tenant_no AND r.resource = 'a' AND r.status = 's'
         ORDER BY r.fetched_at DESC LIMIT 1)
       UNION ALL
       (SELECT r.* FROM defender_storage.sync_run r
         WHERE r.tenant_no = t.tenant_no AND r.resource = 'a' AND r.status = 'f'
         ORDER BY r.run_id DESC LIMIT 1)
       UNION ALL
       (SELECT r.* FROM defender_storage.sync_run r
         WHERE r.tenant_no = t.tenant_no AND r.resource = 'a' AND r.status = 'r' AND r.started_at < $2)) x
 WHERE t.tenant_id = $1
 ORDER BY x.run_id DESC
 LIMIT 1
