-- Records the definition deletions a run withheld: one row per definition
-- of agentsync_work_definitions_missing.
-- $1 run id.
INSERT INTO defender_storage.definition_withheld (definition_key, run_id)
SELECT m.definition_key, $1 FROM pg_temp.agentsync_work_definitions_missing m
