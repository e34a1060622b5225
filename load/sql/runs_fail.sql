-- Records a failed run.
-- $1 run id, $2 now, $3 fetch time (null when the run failed before
-- fetching), $4 the error, $5 rejected, $6 API requests.
UPDATE defender.sync_runs
   SET status = 'failed', finished_at = greatest($2, started_at),
       fetched_at = $3, error = $4,
       agents_rejected = CASE WHEN resource = 'agents' THEN $5 ELSE 0 END, records_rejected = $5,
       api_requests = $6
 WHERE run_id = $1 AND status = 'running'
