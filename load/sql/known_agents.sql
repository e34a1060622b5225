-- Reads a tenant's active agents: key, id, fingerprint, heartbeat and
-- number in the tenant (empty when none is stored).
-- $1 tenant id.
SELECT a.agent_key, a.agent_id, a.fingerprint, h.last_seen, h.last_command_execution_at, a.agent_no
  FROM defender_storage.agent_state a
  LEFT JOIN defender_storage.agent_heartbeat h ON h.agent_key = a.agent_key
 WHERE a.tenant_id = $1 AND a.deleted_at IS NULL
