-- Stores what a sync saw of the heartbeats that moved: each agent's row of
-- agent_heartbeat, updated in place (or inserted for its first), and one
-- observation row for the sync, the agents by their number in the tenant.
-- $1 agent keys (bigint[]), $2 their last_seen (timestamptz[]), $3 their
-- last_command_execution_at (timestamptz[]), $4 fetch time, $5 run id, $6
-- the agents' numbers in the tenant (integer[], in the order of $1: the
-- observation's constraint trigger checks them against agent_state).
-- Returns the number of heartbeats written.
WITH written AS (
	INSERT INTO defender_storage.agent_heartbeat (agent_key, last_seen, last_command_execution_at)
	SELECT m.agent_key, m.last_seen, m.last_command_execution_at
	  FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[]) AS m(agent_key, last_seen, last_command_execution_at)
	    ON CONFLICT (agent_key) DO UPDATE
	   SET last_seen = excluded.last_seen, last_command_execution_at = excluded.last_command_execution_at
	RETURNING 1
), observed AS (
	INSERT INTO defender_storage.observation (observed_at, run_id, agent_nos, last_seen, last_command_execution_at)
	SELECT $4, $5,
	       array_agg(m.agent_no ORDER BY m.agent_no),
	       array_agg(m.last_seen ORDER BY m.agent_no),
	       array_agg(m.last_command_execution_at ORDER BY m.agent_no)
	  FROM unnest($6::integer[], $2::timestamptz[], $3::timestamptz[]) AS m(agent_no, last_seen, last_command_execution_at)
	HAVING count(*) > 0
)
SELECT count(*) FROM written
