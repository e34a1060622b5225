-- What an agents run counts as changed, what a run repaired, and the
-- scan sessions a history sync may leave unread.
--
-- agents_changed (and records_changed of agents runs) counted a known
-- agent whose heartbeat alone moved as changed, though such a sync writes
-- no version and no row of scan_agent_changes. They now count the agents
-- with a changed descriptive value or a return, and the new column
-- agents_heartbeat_only the agents of which only last_seen or
-- last_command_execution_at moved ("seen" in the sync's summary). The
-- stored runs are split the same way: the agents whose version the run
-- opened, less those it first saw, changed; the rest of the old count
-- heartbeat-only. agents_inserted + agents_changed + agents_heartbeat_only
-- + agents_unchanged = agents_seen for every run, before and after.
--
-- fields_repaired counts the fields a run stored repaired: a NUL character
-- dropped, invalid UTF-8 replaced by U+FFFD. Runs before this migration
-- did not count them: 0.
--
-- session_result.listed_fingerprint is a hash of what the history by
-- definition said of a session when it was last written. Every history
-- sync reads the whole SCAN_HISTORY_LOOKBACK, so that a session listed
-- late is stored; a session listed again as its fingerprint says, whose
-- targets are stored, is left out before staging. Sessions stored before
-- this migration have none: the next history sync compares them in full
-- and stores it, once.
--
-- The down migration adds the heartbeat-only agents back into
-- agents_changed and records_changed, as they were counted before, and
-- drops the fingerprints (a cache of what is stored).

-- +goose Up
ALTER TABLE defender.sync_runs
    ADD COLUMN agents_heartbeat_only integer NOT NULL DEFAULT 0 CHECK (agents_heartbeat_only >= 0),
    ADD COLUMN fields_repaired       integer NOT NULL DEFAULT 0 CHECK (fields_repaired >= 0);

WITH descriptive AS (
    SELECT h.opened_by_run_id AS run_id, count(*)::integer AS changed
      FROM defender.scan_agent_history h
      JOIN defender.agent_state a ON a.agent_key = h.agent_key
     WHERE a.first_seen_run_id <> h.opened_by_run_id
     GROUP BY h.opened_by_run_id
), split AS (
    SELECT r.run_id, least(r.agents_changed, coalesce(d.changed, 0)) AS changed
      FROM defender.sync_runs r
      LEFT JOIN descriptive d ON d.run_id = r.run_id
     WHERE r.resource = 'agents' AND r.agents_changed > 0
)
UPDATE defender.sync_runs r
   SET agents_heartbeat_only = r.agents_changed - s.changed,
       agents_changed = s.changed,
       records_changed = r.records_changed - (r.agents_changed - s.changed)
  FROM split s
 WHERE r.run_id = s.run_id AND s.changed < r.agents_changed;

COMMENT ON COLUMN defender.sync_runs.agents_changed IS
    'Known agents with a changed descriptive value (a new version: every column of scan_agents but last_seen, last_command_execution_at and bookkeeping), including agents that returned after deletion. Agents of which only the heartbeat moved are agents_heartbeat_only.';
COMMENT ON COLUMN defender.sync_runs.agents_heartbeat_only IS
    'Known agents of which only last_seen or last_command_execution_at moved: observed, no new version ("seen" in the sync''s summary). agents_inserted + agents_changed + agents_heartbeat_only + agents_unchanged = agents_seen. 0 on runs of other resources.';
COMMENT ON COLUMN defender.sync_runs.agents_unchanged IS
    'Known agents returned with exactly the values already stored, heartbeat included.';
COMMENT ON COLUMN defender.sync_runs.records_changed IS
    'Known records with at least one changed value (agents and definitions: a new version, or a return; sessions: values the history completed or corrected). Agents of which only the heartbeat moved are agents_heartbeat_only.';
COMMENT ON COLUMN defender.sync_runs.fields_repaired IS
    'Fields of the listing stored repaired, because PostgreSQL cannot store them as sent: a NUL character dropped, invalid UTF-8 replaced by U+FFFD. The log of the run names the fields and the records. 0 for runs before this was counted.';

ALTER TABLE defender.session_result ADD COLUMN listed_fingerprint bytea;
COMMENT ON COLUMN defender.session_result.listed_fingerprint IS
    'Hash of the session as the history by definition listed it when it was last written: a history sync leaves a session listed the same way, whose targets are stored, out of its comparison. Empty until a sync stores one.';

-- +goose Down
ALTER TABLE defender.session_result DROP COLUMN listed_fingerprint;
UPDATE defender.sync_runs
   SET agents_changed = agents_changed + agents_heartbeat_only,
       records_changed = records_changed + agents_heartbeat_only
 WHERE agents_heartbeat_only > 0;
COMMENT ON COLUMN defender.sync_runs.agents_changed IS 'Known agents with at least one changed value (including agents that returned after deletion).';
COMMENT ON COLUMN defender.sync_runs.agents_unchanged IS 'Known agents returned with exactly the values already stored.';
COMMENT ON COLUMN defender.sync_runs.records_changed IS
    'Known records with at least one changed value (agents and definitions: a new version; sessions: values the history completed or corrected).';
ALTER TABLE defender.sync_runs DROP COLUMN fields_repaired, DROP COLUMN agents_heartbeat_only;
