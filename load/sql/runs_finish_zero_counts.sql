-- Records a run's success, its counts and the previous successful sync
-- (defender.sync_runs shows the counts of agent runs as agents_* too),
-- at a schema before 41, which stores a count of 0 as 0.
-- $1 run id, $2 fetch time, $3 now, $4 seen, $5 inserted, $6 changed,
-- $7 unchanged, $8 deleted, $9 deletions withheld, $10 rejected,
-- $11 API requests, $12 fetch time of the previous successful run (null
-- for the first), $13 targets inserted, $14 heartbeat-only agents,
-- $15 fields repaired.
UPDATE defender_storage.sync_run
   SET status = 's', fetched_at = $2, finished_at = greatest($3::timestamptz, $2::timestamptz),
       records_seen = $4, records_inserted = $5, records_changed = $6, records_unchanged = $7,
       records_deleted = $8, records_rejected = $10, targets_inserted = $13,
       deletions_withheld = $9, api_requests = $11, previous_sync_at = $12,
       heartbeat_only = CASE WHEN resource = 'a' THEN $14 ELSE 0 END, fields_repaired = $15
 WHERE run_id = $1
