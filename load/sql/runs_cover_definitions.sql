-- Brings definition_coverage (behind scan_coverage) up to date for the
-- definitions whose sessions the run recorded or updated: in the run's
-- transaction, after its sessions are written.
-- $1 tenant id, $2 run id.
SELECT defender_storage.cover_definitions($1, ARRAY(
       SELECT s.definition_id FROM defender_storage.session_result s WHERE s.recorded_by_run_id = $2
        UNION
       SELECT s.definition_id FROM defender_storage.session_result s WHERE s.updated_by_run_id = $2))
