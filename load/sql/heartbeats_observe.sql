-- Stores what a sync saw of the heartbeats that moved: each agent's row of
-- agent_heartbeat, updated in place (or inserted for its first), and one
-- observation row for the sync, the agents by their number in the tenant.
-- $1 agent keys (bigint[]), $2 their last_seen (timestamptz[]), $3 their
-- last_command_execution_at (timestamptz[]), $4 fetch time, $5 run id.
-- Returns the number of heartbeats written.
WITH moved AS (
	SELECT m.agent_key, m.last_seen, m.last_command_execution_at
	  FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[])
	       AS m(agent_key, last_seen, last_command_execution_at)
), written AS (
	INSERT INTO defender_storage.agent_heartbeat (agent_key, last_seen, last_command_execution_at)
	SELECT m.agent_key, m.last_seen, m.last_command_execution_at FROM moved m
	    ON CONFLICT (agent_key) DO UPDATE
	   SET last_seen = excluded.last_seen, last_command_execution_at = excluded.last_command_execution_at
	RETURNING 1
), observed AS (
	INSERT INTO defender_storage.observation (observed_at, run_id, agent_nos, last_seen, last_command_execution_at)
	SELECT $4, $5,
	       array_agg(a.agent_no ORDER BY a.agent_no),
	       array_agg(m.last_seen ORDER BY a.agent_no),
	       array_agg(m.last_command_execution_at ORDER BY a.agent_no)
	  FROM moved m
	  JOIN defender_storage.agent_state a ON a.agent_key = m.agent_key
	HAVING count(*) > 0
)
SELECT count(*) FROM written
