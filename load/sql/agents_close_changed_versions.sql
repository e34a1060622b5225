-- Closes the open history version of the known agents of agentsync_work_diff
-- whose descriptive attributes changed (deleted agents have none open).
-- $1 fetch time, $2 run id.
UPDATE defender.scan_agent_history h
   SET valid_to = $1, closed_by_run_id = $2
  FROM pg_temp.agentsync_work_diff d
 WHERE h.agent_key = d.agent_key AND h.valid_to IS NULL AND d.descriptive_changed AND NOT d.is_new
