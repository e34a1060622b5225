-- Adds to scan_target the targets of the sessions of
-- agentsync_work_sessions_diff_ready (an address, host name and description)
-- that their tenant's scans have not reported before: each distinct
-- target of the reading looked up once by its fingerprint (a busy
-- scanner reports the same targets in every session; the fence keeps the
-- planner from reading every tenant's targets to find a few), added in
-- the order of their values.
-- $1 tenant id.
INSERT INTO defender_storage.scan_target (tenant_no, ip, hostname, description)
SELECT n.tenant_no, d.ip, d.hostname, d.description
  FROM (SELECT DISTINCT t.ip, t.hostname, t.description
          FROM pg_temp.agentsync_work_sessions_diff_ready r
          JOIN pg_temp.agentsync_work_sessions t ON t.seq = r.seq AND t.ordinal >= 0) d
  JOIN defender_storage.tenants n ON n.tenant_id = $1
 WHERE NOT EXISTS (SELECT FROM defender_storage.scan_target g
                    WHERE g.tenant_no = n.tenant_no
                      AND g.fingerprint = defender_storage.target_fingerprint(d.ip, d.hostname, d.description)
                   OFFSET 0)
 ORDER BY d.ip, d.hostname, d.description
