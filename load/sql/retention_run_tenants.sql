-- Lists the tenants that have runs to look at for run retention, each
-- with the time from which to look: the cutoff of the latest pass that
-- dropped some of its runs (runs_dropped.dropped_before), before which
-- every run was looked at then; null for a tenant none of whose runs were
-- dropped yet. A run kept at an earlier pass (a rollup names it, or it
-- wrote what is still stored) is not looked at again.
-- $1 the cutoff (timestamptz).
SELECT t.tenant_id, m.since
  FROM defender_storage.tenants t
 CROSS JOIN LATERAL (SELECT max(s.dropped_before) AS since FROM defender_storage.runs_dropped s
                      WHERE s.tenant_no = t.tenant_no) m
 WHERE EXISTS (SELECT FROM defender_storage.sync_run r
                WHERE r.tenant_no = t.tenant_no AND r.started_at < $1::timestamptz
                  AND (m.since IS NULL OR coalesce(r.fetched_at, r.started_at) >= m.since))
 ORDER BY t.tenant_id
