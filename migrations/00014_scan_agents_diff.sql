-- The fleet between two times: what changed between the agents as of one
-- time and as of another, as scan_agents_as_of tells each (the last
-- successful sync at or before the time, its withheld deletions left out).
-- An auditor's "what changed between the 1st of March and the 1st of June"
-- is one call instead of hand-written SQL over two as_of calls.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION defender.scan_agents_diff(from_at timestamptz, to_at timestamptz, tenant text DEFAULT NULL)
RETURNS TABLE (
    tenant_id                    text,
    agent_id                     text,
    change                       text,
    changed_columns              text[],
    old_machine_id               text,
    new_machine_id               text,
    old_computer_dns_name        text,
    new_computer_dns_name        text,
    old_assigned_application_id  text,
    new_assigned_application_id  text,
    old_scanner_software_version text,
    new_scanner_software_version text,
    old_mde_client_version       text,
    new_mde_client_version       text,
    old_extra                    jsonb,
    new_extra                    jsonb,
    from_run_id                  bigint,
    from_fetched_at              timestamptz,
    to_run_id                    bigint,
    to_fetched_at                timestamptz
)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
#variable_conflict use_column
BEGIN
    IF from_at IS NULL OR to_at IS NULL THEN
        RAISE EXCEPTION 'scan_agents_diff: from and to must both be given'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF from_at > to_at THEN
        RAISE EXCEPTION 'scan_agents_diff: from (%) is after to (%)', from_at, to_at
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give the earlier time first.';
    END IF;
    RETURN QUERY
    WITH syncs AS MATERIALIZED (
        -- Per tenant, the sync each side reflects (none before its first).
        SELECT t.tenant_id, f.run_id AS from_run_id, f.fetched_at AS from_fetched_at,
               n.run_id AS to_run_id, n.fetched_at AS to_fetched_at
          FROM defender.tenants t
          LEFT JOIN LATERAL (SELECT r.run_id, r.fetched_at FROM defender.sync_runs r
                              WHERE r.tenant_id = t.tenant_id AND r.resource = 'agents' AND r.status = 'succeeded'
                                AND r.fetched_at <= scan_agents_diff.from_at
                              ORDER BY r.fetched_at DESC LIMIT 1) f ON true
          LEFT JOIN LATERAL (SELECT r.run_id, r.fetched_at FROM defender.sync_runs r
                              WHERE r.tenant_id = t.tenant_id AND r.resource = 'agents' AND r.status = 'succeeded'
                                AND r.fetched_at <= scan_agents_diff.to_at
                              ORDER BY r.fetched_at DESC LIMIT 1) n ON true
         WHERE scan_agents_diff.tenant IS NULL OR t.tenant_id = lower(scan_agents_diff.tenant)
    ), before_fleet AS MATERIALIZED (
        SELECT a.* FROM defender.scan_agents_as_of(scan_agents_diff.from_at) a
         WHERE scan_agents_diff.tenant IS NULL OR a.tenant_id = lower(scan_agents_diff.tenant)
    ), after_fleet AS MATERIALIZED (
        SELECT a.* FROM defender.scan_agents_as_of(scan_agents_diff.to_at) a
         WHERE scan_agents_diff.tenant IS NULL OR a.tenant_id = lower(scan_agents_diff.tenant)
    ), pairs AS (
        SELECT coalesce(o.tenant_id, n.tenant_id) AS tenant_id, coalesce(o.agent_id, n.agent_id) AS agent_id,
               o.agent_id IS NOT NULL AS was_there, n.agent_id IS NOT NULL AS is_there,
               o.machine_id AS old_machine_id, n.machine_id AS new_machine_id,
               o.computer_dns_name AS old_computer_dns_name, n.computer_dns_name AS new_computer_dns_name,
               o.assigned_application_id AS old_assigned_application_id,
               n.assigned_application_id AS new_assigned_application_id,
               o.scanner_software_version AS old_scanner_software_version,
               n.scanner_software_version AS new_scanner_software_version,
               o.mde_client_version AS old_mde_client_version, n.mde_client_version AS new_mde_client_version,
               o.extra AS old_extra, n.extra AS new_extra,
               array_remove(ARRAY[
                   CASE WHEN o.machine_id IS DISTINCT FROM n.machine_id THEN 'machine_id' END,
                   CASE WHEN o.computer_dns_name IS DISTINCT FROM n.computer_dns_name THEN 'computer_dns_name' END,
                   CASE WHEN o.assigned_application_id IS DISTINCT FROM n.assigned_application_id THEN 'assigned_application_id' END,
                   CASE WHEN o.scanner_software_version IS DISTINCT FROM n.scanner_software_version THEN 'scanner_software_version' END,
                   CASE WHEN o.mde_client_version IS DISTINCT FROM n.mde_client_version THEN 'mde_client_version' END,
                   CASE WHEN o.extra IS DISTINCT FROM n.extra THEN 'extra' END
               ], NULL) AS changed_columns
          FROM before_fleet o
          FULL JOIN after_fleet n ON n.tenant_id = o.tenant_id AND n.agent_id = o.agent_id
    )
    SELECT p.tenant_id, p.agent_id,
           CASE WHEN p.was_there AND p.is_there THEN 'changed'
                WHEN p.was_there THEN 'deleted'
                -- Absent at from but seen by a sync at or before it: back.
                WHEN EXISTS (SELECT FROM defender.agent_state a
                              WHERE a.tenant_id = p.tenant_id AND a.agent_id = p.agent_id
                                AND a.first_seen_at <= s.from_fetched_at) THEN 'returned'
                ELSE 'appeared' END,
           CASE WHEN p.was_there AND p.is_there THEN p.changed_columns ELSE '{}'::text[] END,
           p.old_machine_id, p.new_machine_id, p.old_computer_dns_name, p.new_computer_dns_name,
           p.old_assigned_application_id, p.new_assigned_application_id,
           p.old_scanner_software_version, p.new_scanner_software_version,
           p.old_mde_client_version, p.new_mde_client_version, p.old_extra, p.new_extra,
           s.from_run_id, s.from_fetched_at, s.to_run_id, s.to_fetched_at
      FROM pairs p
      JOIN syncs s ON s.tenant_id = p.tenant_id
     WHERE NOT (p.was_there AND p.is_there) OR p.changed_columns <> '{}'
     ORDER BY p.tenant_id, p.agent_id;
END;
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION defender.scan_agents_diff(timestamptz, timestamptz, text) IS
    'The agents that changed between the fleet as of from_at and as of to_at (each as scan_agents_as_of tells it), optionally of one tenant: change is appeared, deleted, returned (absent at from_at, seen by an earlier sync) or changed (changed_columns names the descriptive columns that differ); old_* and new_* are the values at each side, from_run_id/from_fetched_at and to_run_id/to_fetched_at the tenant''s sync each side reflects. Unchanged agents are absent; last_seen and last_command_execution_at are observations, not compared. Example: SELECT * FROM defender.scan_agents_diff(''2026-03-01'', ''2026-06-01'').';
SELECT defender.grant_reader_access();

-- +goose Down
DROP FUNCTION defender.scan_agents_diff(timestamptz, timestamptz, text);
