-- Counts what a definitions sync saw: the staged definitions, the new
-- ones, the known ones to rewrite, the tenant's active definitions, those
-- of them listed, and those of them listed only as unreadable.
-- $1 tenant id.
SELECT (SELECT count(*) FROM pg_temp.agentsync_work_definitions),
       (SELECT count(*) FROM pg_temp.agentsync_work_definition_diff WHERE definition_key IS NULL),
       (SELECT count(*) FROM pg_temp.agentsync_work_definition_diff WHERE definition_key IS NOT NULL),
       (SELECT count(*) FROM defender_storage.definition_state WHERE tenant_id = $1 AND deleted_at IS NULL),
       (SELECT count(*) FROM pg_temp.agentsync_work_definitions s
          JOIN defender_storage.definition_state d ON d.tenant_id = $1 AND d.definition_id = s.definition_id AND d.deleted_at IS NULL),
       (SELECT count(*) FROM pg_temp.agentsync_work_definitions_unreadable u
          JOIN defender_storage.definition_state d ON d.tenant_id = $1 AND d.definition_id = u.definition_id AND d.deleted_at IS NULL
         WHERE NOT EXISTS (SELECT FROM pg_temp.agentsync_work_definitions s WHERE s.definition_id = u.definition_id))
