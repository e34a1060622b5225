-- Writes a tenant's heartbeat blocks from agentsync_heartbeats (filled by
-- COPY), in place when the block exists.
-- $1 tenant id.
INSERT INTO defender_storage.heartbeat_block (tenant_id, block, last_seen, last_command_execution_at)
SELECT $1, h.block, h.last_seen, h.last_command_execution_at FROM pg_temp.agentsync_heartbeats h
    ON CONFLICT (tenant_id, block) DO UPDATE
   SET last_seen = excluded.last_seen, last_command_execution_at = excluded.last_command_execution_at
