-- Compares the staged agents with the stored ones and keeps in
-- agentsync_work_diff those whose row must be written: new agents (which get
-- their key now, so that every table is filled straight from this one),
-- returning ones, and known ones with a changed descriptive value or
-- fingerprint. Returns how many are new, how many known ones are
-- rewritten (returning or changed), and how many known ones are written.
-- $1 tenant id.
WITH d AS (
	INSERT INTO pg_temp.agentsync_work_diff
	SELECT * FROM (
		SELECT s.*,
		       coalesce(a.agent_key, pg_catalog.nextval('defender_storage.agent_state_agent_key_seq')) AS agent_key,
		       a.agent_key IS NULL AS is_new,
		       a.deleted_at IS NOT NULL AS is_returning,
		       (a.machine_id, a.computer_dns_name, a.assigned_application_id,
		        a.scanner_software_version, a.mde_client_version, a.extra)
		         IS DISTINCT FROM
		       (s.machine_id, s.computer_dns_name, s.assigned_application_id,
		        s.scanner_software_version, s.mde_client_version, s.extra) AS descriptive_changed,
		       a.fingerprint IS DISTINCT FROM s.fingerprint AS fingerprint_changed
		  FROM pg_temp.agentsync_work_staging s
		  LEFT JOIN defender_storage.agent_state a ON a.tenant_id = $1 AND a.agent_id = s.agent_id) c
	 WHERE c.is_new OR c.is_returning OR c.descriptive_changed OR c.fingerprint_changed
	RETURNING is_new, is_returning, descriptive_changed
)
SELECT count(*) FILTER (WHERE d.is_new),
       count(*) FILTER (WHERE NOT d.is_new AND (d.is_returning OR d.descriptive_changed)),
       count(*) FILTER (WHERE NOT d.is_new)
  FROM d
