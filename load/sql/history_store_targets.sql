-- Stores the targets of the sessions of agentsync_work_sessions_diff_ready,
-- each naming its target in scan_target (history_add_targets added those
-- the tenant had not had), found by its fingerprint: the tenant's targets
-- of those fingerprints are read by their index once, then joined to
-- every target row (a busy scanner reports the same targets in every
-- session). A target without one stores a null, which the table refuses:
-- a target is never left out.
-- $1 tenant id.
WITH staged AS (
	SELECT r.session_key, t.ordinal, t.target_status, t.error_message, t.duration, t.target_extra,
	       defender_storage.target_fingerprint(t.ip, t.hostname, t.description) AS fingerprint
	  FROM pg_temp.agentsync_work_sessions_diff_ready r
	  JOIN pg_temp.agentsync_work_sessions t ON t.seq = r.seq AND t.ordinal >= 0
), known AS (
	SELECT g.fingerprint, g.target_no
	  FROM defender_storage.scan_target g
	 WHERE g.tenant_no = (SELECT n.tenant_no FROM defender_storage.tenants n WHERE n.tenant_id = $1)
	   -- The fingerprints as an array: the tenant's targets are read by
	   -- their index, whatever the planner guesses of the size of the
	   -- work tables.
	   AND g.fingerprint = ANY (ARRAY(SELECT DISTINCT s.fingerprint FROM staged s))
)
INSERT INTO defender_storage.session_target (session_key, ordinal, target_no, status, error_message, duration, extra)
SELECT s.session_key, s.ordinal, k.target_no, s.target_status, s.error_message, s.duration,
       coalesce(s.target_extra, '{}')
  FROM staged s
  LEFT JOIN known k ON k.fingerprint = s.fingerprint
