-- Records a failed run. A count of 0 is stored as null.
-- $1 run id, $2 now, $3 fetch time (null when the run failed before
-- fetching), $4 the error, $5 rejected, $6 API requests.
UPDATE defender_storage.sync_run
   SET status = 'f', finished_at = greatest($2, started_at),
       fetched_at = $3, error = $4, records_rejected = nullif($5, 0), api_requests = nullif($6, 0)
 WHERE run_id = $1 AND status = 'r'
