-- Records a run's success, its counts and the previous successful sync:
-- the agents_* columns for agent runs only, records_* and fields_repaired
-- for all.
-- $1 run id, $2 fetch time, $3 now, $4 seen, $5 inserted, $6 changed,
-- $7 unchanged, $8 deleted, $9 deletions withheld, $10 rejected,
-- $11 API requests, $12 fetch time of the previous successful run (null
-- for the first), $13 targets inserted, $14 heartbeat-only agents,
-- $15 fields repaired.
UPDATE defender.sync_runs
   SET status = 'succeeded', fetched_at = $2, finished_at = greatest($3::timestamptz, $2::timestamptz),
       agents_seen = CASE WHEN resource = 'agents' THEN $4 ELSE 0 END,
       agents_inserted = CASE WHEN resource = 'agents' THEN $5 ELSE 0 END,
       agents_changed = CASE WHEN resource = 'agents' THEN $6 ELSE 0 END,
       agents_unchanged = CASE WHEN resource = 'agents' THEN $7 ELSE 0 END,
       agents_deleted = CASE WHEN resource = 'agents' THEN $8 ELSE 0 END,
       agents_rejected = CASE WHEN resource = 'agents' THEN $10 ELSE 0 END,
       records_seen = $4, records_inserted = $5, records_changed = $6, records_unchanged = $7,
       records_deleted = $8, records_rejected = $10, targets_inserted = $13,
       deletions_withheld = $9, api_requests = $11, previous_sync_at = $12,
       agents_heartbeat_only = CASE WHEN resource = 'agents' THEN $14 ELSE 0 END, fields_repaired = $15
 WHERE run_id = $1
