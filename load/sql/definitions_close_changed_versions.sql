-- Closes the open version of the definitions of agentsync_work_definition_diff
-- whose versioned attributes changed.
-- $1 fetch time, $2 run id.
UPDATE defender_storage.definition_version v
   SET valid_to = $1, closed_by_run_id = $2
  FROM pg_temp.agentsync_work_definition_diff d
 WHERE v.definition_key = d.definition_key AND v.valid_to IS NULL AND d.changed
   -- The keys again as an array: definition_version is read by its index, whatever
   -- the planner guesses of the size of the work table.
   AND v.definition_key = ANY (ARRAY(SELECT c.definition_key FROM pg_temp.agentsync_work_definition_diff c WHERE c.changed))
