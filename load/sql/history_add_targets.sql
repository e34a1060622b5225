-- Adds to scan_target the targets of the sessions of
-- agentsync_work_sessions_diff_ready (an address, host name and description)
-- that their tenant's scans have not reported before, each looked up by
-- its fingerprint (the fence keeps the planner from reading every
-- tenant's targets to find a few).
-- $1 tenant id.
INSERT INTO defender_storage.scan_target (tenant_no, ip, hostname, description)
SELECT DISTINCT n.tenant_no, t.ip, t.hostname, t.description
  FROM pg_temp.agentsync_work_sessions_diff_ready r
  JOIN pg_temp.agentsync_work_sessions t ON t.seq = r.seq AND t.ordinal >= 0
  JOIN defender_storage.tenants n ON n.tenant_id = $1
 WHERE NOT EXISTS (SELECT FROM defender_storage.scan_target g
                    WHERE g.tenant_no = n.tenant_no
                      AND g.fingerprint = defender_storage.target_fingerprint(t.ip, t.hostname, t.description)
                   OFFSET 0)
