-- Reads a tenant's active agents: key, id and fingerprint.
-- $1 tenant id.
SELECT agent_key, agent_id, fingerprint
  FROM defender_storage.agent_state
 WHERE tenant_id = $1 AND deleted_at IS NULL
