-- Counts a tenant's active agents, and tells whether it has none stored
-- at all.
-- $1 tenant id.
SELECT (SELECT count(*) FROM defender_storage.agent_state WHERE tenant_id = $1 AND deleted_at IS NULL),
       NOT EXISTS (SELECT FROM defender_storage.agent_state WHERE tenant_id = $1)
