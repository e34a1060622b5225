-- Keeps the ids of the definitions listed but unreadable in
-- agentsync_work_definitions_unreadable.
-- $1 their ids (text[]).
INSERT INTO pg_temp.agentsync_work_definitions_unreadable (definition_id)
SELECT DISTINCT id FROM unnest($1::text[]) AS id
