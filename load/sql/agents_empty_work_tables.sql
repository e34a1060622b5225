-- Empties the work tables of an agents sync before it commits: they keep their
-- rows across commits (ON COMMIT PRESERVE ROWS), so that a commit does not
-- truncate every work table of the session, as ON COMMIT DELETE ROWS did
-- (about 0.3 ms a table and its TOAST table, at each commit). A
-- transaction that rolls back takes its rows with it.
-- No parameters.
WITH t0 AS (DELETE FROM pg_temp.agentsync_work_staging),
     t1 AS (DELETE FROM pg_temp.agentsync_work_unreadable),
     t2 AS (DELETE FROM pg_temp.agentsync_work_diff),
     t3 AS (DELETE FROM pg_temp.agentsync_work_missing)
SELECT
