-- Reporting SQL over the history: the fleet as of a past time, one row per
-- changed attribute, and version drift per active agent.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION defender.scan_agents_as_of(at timestamptz)
RETURNS TABLE (
    tenant_id                 text,
    agent_id                  text,
    machine_id                text,
    computer_dns_name         text,
    assigned_application_id   text,
    scanner_software_version  text,
    mde_client_version        text,
    last_seen                 timestamptz,
    last_command_execution_at timestamptz,
    extra                     jsonb
)
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    WITH last_run AS (
        -- Per tenant, the last successful sync at or before `at`.
        SELECT DISTINCT ON (r.tenant_id) r.tenant_id, r.run_id, r.fetched_at
          FROM defender.sync_runs r
         WHERE r.status = 'succeeded' AND r.fetched_at <= scan_agents_as_of.at
         ORDER BY r.tenant_id, r.run_id DESC
    )
    SELECT h.tenant_id,
           h.agent_id,
           h.machine_id,
           h.computer_dns_name,
           h.assigned_application_id,
           h.scanner_software_version,
           h.mde_client_version,
           o.last_seen,
           o.last_command_execution_at,
           h.extra
      FROM last_run s
      JOIN defender.scan_agent_history h
        ON h.tenant_id = s.tenant_id
       AND h.valid_from <= s.fetched_at
       AND (h.valid_to IS NULL OR h.valid_to > s.fetched_at)
      LEFT JOIN LATERAL (
            SELECT ob.last_seen, ob.last_command_execution_at
              FROM defender.agent_observation ob
             WHERE ob.agent_key = h.agent_key AND ob.run_id <= s.run_id
             ORDER BY ob.run_id DESC
             LIMIT 1) o ON true
     WHERE NOT EXISTS (SELECT FROM defender.withheld_deletions w
                        WHERE w.agent_key = h.agent_key AND w.run_id = s.run_id);
END;
-- +goose StatementEnd
COMMENT ON FUNCTION defender.scan_agents_as_of(timestamptz) IS
    'The agents exactly as the last successful sync at or before the given time saw them, per tenant (the columns of scan_agents without bookkeeping). Example: SELECT * FROM defender.scan_agents_as_of(''2026-10-01'').';

CREATE VIEW defender.scan_agent_changes AS
WITH versions AS (
    SELECT h.*,
           lag(h.history_id) OVER w AS prev_history_id,
           lead(h.valid_from) OVER w AS next_valid_from
      FROM defender.scan_agent_history h
    WINDOW w AS (PARTITION BY h.agent_key ORDER BY h.valid_from)
), pairs AS (
    SELECT v.tenant_id, v.agent_id, v.valid_from AS changed_at, v.opened_by_run_id AS run_id,
           p.valid_to AS prev_valid_to,
           p.machine_id AS old_machine_id, v.machine_id AS new_machine_id,
           p.computer_dns_name AS old_computer_dns_name, v.computer_dns_name AS new_computer_dns_name,
           p.assigned_application_id AS old_assigned_application_id, v.assigned_application_id AS new_assigned_application_id,
           p.scanner_software_version AS old_scanner_software_version, v.scanner_software_version AS new_scanner_software_version,
           p.mde_client_version AS old_mde_client_version, v.mde_client_version AS new_mde_client_version,
           p.extra AS old_extra, v.extra AS new_extra
      FROM versions v
      JOIN defender.scan_agent_history p ON p.history_id = v.prev_history_id
)
-- Attribute changes between consecutive versions.
SELECT c.tenant_id, c.agent_id, c.changed_at, a.attribute, a.old_value, a.new_value, c.run_id
  FROM pairs c
 CROSS JOIN LATERAL (VALUES
        ('machine_id', c.old_machine_id, c.new_machine_id),
        ('computer_dns_name', c.old_computer_dns_name, c.new_computer_dns_name),
        ('assigned_application_id', c.old_assigned_application_id, c.new_assigned_application_id),
        ('scanner_software_version', c.old_scanner_software_version, c.new_scanner_software_version),
        ('mde_client_version', c.old_mde_client_version, c.new_mde_client_version)
       ) AS a(attribute, old_value, new_value)
 WHERE a.old_value IS DISTINCT FROM a.new_value
UNION ALL
-- Changes of fields without a column, one row per key: extra.<key as sent>.
SELECT c.tenant_id, c.agent_id, c.changed_at, 'extra.' || k.key, o.value #>> '{}', n.value #>> '{}', c.run_id
  FROM pairs c
 CROSS JOIN LATERAL (SELECT jsonb_object_keys(c.old_extra) UNION SELECT jsonb_object_keys(c.new_extra)) AS k(key)
  LEFT JOIN LATERAL (SELECT c.old_extra -> k.key) AS o(value) ON true
  LEFT JOIN LATERAL (SELECT c.new_extra -> k.key) AS n(value) ON true
 WHERE o.value IS DISTINCT FROM n.value
UNION ALL
-- The agent appearing for the first time.
SELECT v.tenant_id, v.agent_id, v.valid_from, 'agent', NULL, 'first seen', v.opened_by_run_id
  FROM versions v
 WHERE v.prev_history_id IS NULL
UNION ALL
-- The agent returning after a deletion.
SELECT c.tenant_id, c.agent_id, c.changed_at, 'agent', 'deleted', 'returned', c.run_id
  FROM pairs c
 WHERE c.prev_valid_to < c.changed_at
UNION ALL
-- The agent deleted: a version closed with no version starting at that time.
SELECT v.tenant_id, v.agent_id, v.valid_to, 'agent', 'active', 'deleted', v.closed_by_run_id
  FROM versions v
 WHERE v.valid_to IS NOT NULL AND (v.next_valid_from IS NULL OR v.next_valid_from > v.valid_to);

COMMENT ON VIEW defender.scan_agent_changes IS
    'One row per changed attribute of an agent, from its history: versions, host names, application ids, fields without a column (attribute extra.<name>), and the agent itself being first seen, deleted or returning (attribute agent).';
COMMENT ON COLUMN defender.scan_agent_changes.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';
COMMENT ON COLUMN defender.scan_agent_changes.agent_id IS 'Defender id of the scan agent.';
COMMENT ON COLUMN defender.scan_agent_changes.changed_at IS 'Fetch time of the sync that saw the change.';
COMMENT ON COLUMN defender.scan_agent_changes.attribute IS 'What changed: a column name of scan_agents, extra.<field name as sent>, or agent (first seen, deleted, returned).';
COMMENT ON COLUMN defender.scan_agent_changes.old_value IS 'Value before the change, as text; empty if there was none.';
COMMENT ON COLUMN defender.scan_agent_changes.new_value IS 'Value after the change, as text; empty if there is none.';
COMMENT ON COLUMN defender.scan_agent_changes.run_id IS 'The sync run that saw the change.';

CREATE VIEW defender.version_drift AS
WITH active AS (
    SELECT a.tenant_id, a.agent_id, a.computer_dns_name,
           a.mde_client_version, defender.version_key(a.mde_client_version) AS mde_key,
           a.scanner_software_version, defender.version_key(a.scanner_software_version) AS scanner_key
      FROM defender.agent_state a
     WHERE a.deleted_at IS NULL
), mde_versions AS (
    -- One row per distinct version; of spellings of one version (7.6.0 and
    -- 7.6.0.0), the longest names it.
    SELECT DISTINCT ON (tenant_id, mde_key) tenant_id, mde_key AS key, mde_client_version AS version
      FROM active WHERE mde_key IS NOT NULL
     ORDER BY tenant_id, mde_key, length(mde_client_version) DESC, mde_client_version
), scanner_versions AS (
    SELECT DISTINCT ON (tenant_id, scanner_key) tenant_id, scanner_key AS key, scanner_software_version AS version
      FROM active WHERE scanner_key IS NOT NULL
     ORDER BY tenant_id, scanner_key, length(scanner_software_version) DESC, scanner_software_version
)
SELECT a.tenant_id,
       a.agent_id,
       a.computer_dns_name,
       a.mde_client_version,
       (SELECT v.version FROM mde_versions v WHERE v.tenant_id = a.tenant_id
         ORDER BY v.key DESC LIMIT 1) AS newest_mde_client_version,
       CASE WHEN a.mde_key IS NOT NULL THEN
           (SELECT count(*) FROM mde_versions v WHERE v.tenant_id = a.tenant_id AND v.key > a.mde_key)
       END AS versions_behind,
       a.scanner_software_version,
       (SELECT v.version FROM scanner_versions v WHERE v.tenant_id = a.tenant_id
         ORDER BY v.key DESC LIMIT 1) AS newest_scanner_software_version,
       CASE WHEN a.scanner_key IS NOT NULL THEN
           (SELECT count(*) FROM scanner_versions v WHERE v.tenant_id = a.tenant_id AND v.key > a.scanner_key)
       END AS scanner_versions_behind
  FROM active a;

COMMENT ON VIEW defender.version_drift IS
    'Per active agent: its Defender client and scanner versions, the newest of each among the active agents of its tenant, and how many distinct newer versions exist (0 = up to date). Versions order numerically (10.8295.22621.1010 < 10.8295.22621.1195 < 10.10000.0.0).';
COMMENT ON COLUMN defender.version_drift.tenant_id IS 'Microsoft Entra tenant the agent belongs to.';
COMMENT ON COLUMN defender.version_drift.agent_id IS 'Defender id of the scan agent.';
COMMENT ON COLUMN defender.version_drift.computer_dns_name IS 'Host name of the machine running the scanner.';
COMMENT ON COLUMN defender.version_drift.mde_client_version IS 'Defender for Endpoint client version on the agent''s machine.';
COMMENT ON COLUMN defender.version_drift.newest_mde_client_version IS 'Newest Defender client version among the active agents of the tenant.';
COMMENT ON COLUMN defender.version_drift.versions_behind IS 'How many distinct newer Defender client versions the tenant''s active agents run (0 = newest); empty when the version is unknown or not numeric.';
COMMENT ON COLUMN defender.version_drift.scanner_software_version IS 'Scanner software version of the agent.';
COMMENT ON COLUMN defender.version_drift.newest_scanner_software_version IS 'Newest scanner version among the active agents of the tenant.';
COMMENT ON COLUMN defender.version_drift.scanner_versions_behind IS 'How many distinct newer scanner versions the tenant''s active agents run (0 = newest); empty when unknown or not numeric.';

-- +goose Down
DROP VIEW defender.version_drift;
DROP VIEW defender.scan_agent_changes;
DROP FUNCTION defender.scan_agents_as_of(timestamptz);
