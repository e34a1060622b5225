-- Records the deletions a run withheld: one row per agent of
-- agentsync_work_missing.
-- $1 run id.
INSERT INTO defender_storage.withheld_deletions (agent_key, run_id)
SELECT m.agent_key, $1 FROM pg_temp.agentsync_work_missing m
