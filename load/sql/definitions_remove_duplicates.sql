-- Keeps only the last listed record of each definition id in the staging
-- table.
-- No parameters.
DELETE FROM pg_temp.agentsync_work_definitions s
 USING pg_temp.agentsync_work_definitions later
 WHERE later.definition_id = s.definition_id AND later.seq > s.seq
