-- Keeps in agentsync_work_definitions_missing the tenant's active definitions
-- the listing lacks, neither listed nor unreadable.
-- $1 tenant id.
INSERT INTO pg_temp.agentsync_work_definitions_missing (definition_key)
SELECT d.definition_key
  FROM defender_storage.definition_state d
 WHERE d.tenant_id = $1 AND d.deleted_at IS NULL
   AND NOT EXISTS (SELECT FROM pg_temp.agentsync_work_definitions s WHERE s.definition_id = d.definition_id)
   AND NOT EXISTS (SELECT FROM pg_temp.agentsync_work_definitions_unreadable u WHERE u.definition_id = d.definition_id)
