-- Stores what the history by definition said of each session (its
-- fingerprint), for the next syncs to leave it out while it says the
-- same: written once per session, then only when the listing differs.
-- No parameters.
UPDATE defender_storage.session_result r SET listed_fingerprint = d.fingerprint
  FROM pg_temp.agentsync_work_sessions_diff d
 WHERE r.session_key = d.session_key AND d.fingerprint IS NOT NULL
   AND r.listed_fingerprint IS DISTINCT FROM d.fingerprint
   -- The keys again as an array: session_result is read by its index,
   -- whatever the planner guesses of the size of the work table.
   AND r.session_key = ANY (ARRAY(SELECT f.session_key FROM pg_temp.agentsync_work_sessions_diff f WHERE f.fingerprint IS NOT NULL))
