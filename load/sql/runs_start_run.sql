-- Records a run as running, in a transaction of its own committed without
-- waiting for the flush: renews the tenant's lease held by the holder,
-- marks failed the runs of the tenant's resource left running by a
-- process that stopped, and records the tenant's row (created, or given
-- its new display name), its worker's and the run; raises the session's
-- temp_buffers first. Returns the run id (null when the lease is no
-- longer the holder's: nothing is recorded) and the runs marked failed.
-- $1 tenant id, $2 resource, $3 start time, $4 worker, $5 tenant display
-- name ('' for none), $6 holder, $7 lease duration in seconds, $8 the
-- error recorded on abandoned runs, $9 temp_buffers (text, such as 64MB).
SELECT new_run_id, abandoned_runs
  FROM defender_storage.start_run($1, $2, $3, $4, $5, $6, $7, $8, $9)
