-- Reads a tenant's heartbeat blocks (deleted agents' slots included).
-- $1 tenant id.
SELECT block, last_seen, last_command_execution_at
  FROM defender_storage.heartbeat_block
 WHERE tenant_id = $1
