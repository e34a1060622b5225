-- Records the ids of the agents listed but unreadable in
-- agentsync_work_unreadable.
-- $1 their ids (text[]).
INSERT INTO pg_temp.agentsync_work_unreadable (agent_id)
SELECT DISTINCT id FROM unnest($1::text[]) AS id
