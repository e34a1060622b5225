-- Keeps only the last listed record of each agent id in the staging
-- table.
-- No parameters.
DELETE FROM pg_temp.agentsync_work_staging s
 USING pg_temp.agentsync_work_staging later
 WHERE later.agent_id = s.agent_id AND later.seq > s.seq
