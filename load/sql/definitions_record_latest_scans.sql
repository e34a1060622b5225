-- Records each staged definition's latestScan as a session result, when no
-- stored session of the definition ran at that time (one the history
-- named, with its id, or this same latestScan seen by an earlier sync).
-- $1 tenant id, $2 fetch time, $3 run id.
INSERT INTO defender_storage.session_result (tenant_id, definition_id, scanner_agent_id, status, scanned_at, general_error,
                                     source, recorded_at, recorded_by_run_id)
SELECT $1, s.definition_id, s.scanner_agent_id, s.latest_status, s.latest_executed_at, s.latest_failure_reason,
       'latest_scan', $2, $3
  FROM pg_temp.agentsync_work_definitions s
 WHERE s.latest_executed_at IS NOT NULL
   AND NOT EXISTS (SELECT FROM defender_storage.session_result r
                    WHERE r.tenant_id = $1 AND r.definition_id = s.definition_id AND r.scanned_at = s.latest_executed_at)
ON CONFLICT (tenant_id, definition_id, scanned_at) WHERE session_id IS NULL DO NOTHING
