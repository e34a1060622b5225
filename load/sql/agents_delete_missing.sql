-- Marks the agents of agentsync_work_missing deleted and closes their open
-- history version.
-- $1 fetch time, $2 run id.
WITH deleted AS (
	UPDATE defender_storage.agent_state a
	   SET deleted_at = $1, deleted_by_run_id = $2
	  FROM pg_temp.agentsync_work_missing m
	 WHERE a.agent_key = m.agent_key
	RETURNING a.agent_key
)
UPDATE defender.scan_agent_history h
   SET valid_to = $1, closed_by_run_id = $2
  FROM deleted
 WHERE h.agent_key = deleted.agent_key AND h.valid_to IS NULL
