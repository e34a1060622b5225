-- Keeps only the last staged record of each session (known by its id,
-- else by its definition and time), its targets aside.
-- No parameters.
DELETE FROM pg_temp.agentsync_work_sessions
 WHERE seq NOT IN (SELECT DISTINCT ON (coalesce(session_id, definition_id || ' ' || scanned_at::text)) seq
                     FROM pg_temp.agentsync_work_sessions WHERE ordinal = -1
                    ORDER BY coalesce(session_id, definition_id || ' ' || scanned_at::text), seq DESC)
