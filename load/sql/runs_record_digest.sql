-- Stores the digest of the run just recorded succeeded, chained with the
-- previous successful run of its tenant and resource, and the sessions it
-- wrote (docs/audit.md): in the run's transaction, after runs_finish.
-- $1 run id.
SELECT defender_storage.record_run_digest($1)
