-- Records in agentsync_work_missing the active agents the listing lacks.
-- $1 their agent keys (bigint[]).
INSERT INTO pg_temp.agentsync_work_missing (agent_key) SELECT unnest($1::bigint[])
