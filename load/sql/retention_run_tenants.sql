-- Lists the tenants that have runs to look at for run retention, each
-- with the run after which to look (run_retention_progress; 0 for a
-- tenant retention never looked at): a run kept at an earlier pass
-- (something referred to it) is not looked at again, and a pass cut short
-- goes on from where it stopped.
-- $1 the cutoff (timestamptz).
SELECT t.tenant_id, coalesce(p.through_run_id, 0)
  FROM defender_storage.tenants t
  LEFT JOIN defender_storage.run_retention_progress p ON p.tenant_no = t.tenant_no
 WHERE EXISTS (SELECT FROM defender_storage.sync_run r
                WHERE r.tenant_no = t.tenant_no AND r.run_id > coalesce(p.through_run_id, 0)
                  AND r.started_at < $1::timestamptz)
 ORDER BY t.tenant_id
