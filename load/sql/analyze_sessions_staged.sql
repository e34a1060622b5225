-- Gathers the statistics of the work table agentsync_work_sessions once it
-- holds a large reading (see analyzeWorkTable): those of the columns that
-- merging the two readings and the comparison filter and join on, which
-- without them the planner takes for a row or two and joins by reading
-- the table once per session. The other columns' statistics would double
-- the cost and change no plan.
-- No parameters.
ANALYZE pg_temp.agentsync_work_sessions (seq, ordinal, session_id, definition_id, scanned_at, scanner_id)
