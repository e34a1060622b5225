-- Marks the definitions of agentsync_work_definitions_missing deleted and
-- closes their open version.
-- $1 fetch time, $2 run id.
WITH deleted AS (
	UPDATE defender_storage.definition_state d
	   SET deleted_at = $1, deleted_by_run_id = $2
	 -- The keys as an array: definition_state is read by its index,
	 -- whatever the planner guesses of the size of the work table.
	 WHERE d.definition_key = ANY (ARRAY(SELECT m.definition_key FROM pg_temp.agentsync_work_definitions_missing m))
	RETURNING d.definition_key
)
UPDATE defender_storage.definition_version v
   SET valid_to = $1, closed_by_run_id = $2
  FROM deleted
 WHERE v.definition_key = deleted.definition_key AND v.valid_to IS NULL
   AND v.definition_key = ANY (ARRAY(SELECT m.definition_key FROM pg_temp.agentsync_work_definitions_missing m))
