-- Records a run's success, its counts and the previous successful sync
-- (defender.sync_runs shows the counts of agent runs as agents_* too). A
-- count of 0 is stored as null.
-- $1 run id, $2 fetch time, $3 now, $4 seen, $5 inserted, $6 changed,
-- $7 unchanged, $8 deleted, $9 deletions withheld, $10 rejected,
-- $11 API requests, $12 fetch time of the previous successful run (null
-- for the first), $13 targets inserted, $14 heartbeat-only agents,
-- $15 fields repaired.
UPDATE defender_storage.sync_run
   SET status = 's', fetched_at = $2, finished_at = greatest($3::timestamptz, $2::timestamptz),
       records_seen = nullif($4, 0), records_inserted = nullif($5, 0), records_changed = nullif($6, 0),
       records_unchanged = nullif($7, 0), records_deleted = nullif($8, 0), records_rejected = nullif($10, 0),
       targets_inserted = nullif($13, 0), deletions_withheld = nullif($9, 0), api_requests = nullif($11, 0),
       previous_sync_at = $12,
       heartbeat_only = CASE WHEN resource = 'a' THEN nullif($14, 0) END, fields_repaired = nullif($15, 0)
 WHERE run_id = $1
