-- Agents numbered within their tenant; heartbeats in a narrow row per
-- agent, observations in one row per tenant and sync.
--
-- Migration 00011 packed the volatile timestamps of 64 agent keys per row,
-- keys taken from one sequence shared by every tenant: tenants whose agents
-- take keys in turn, and agents that join over time, spread a tenant over
-- many partly empty rows. Real tenants have tens of agents. Now:
--
-- - agent_state.agent_no numbers each tenant's agents 1, 2, ... in the
--   order they were first seen (the upgrade numbers them by key);
-- - agent_heartbeat holds each agent's latest last_seen and
--   last_command_execution_at: a narrow row per agent, with room on its
--   page (fillfactor 50) for updates in place (HOT), and a foreign key to
--   its agent;
-- - observation holds what one sync saw of the agents whose timestamps
--   moved: one row per sync (whose run names the tenant), the agents'
--   numbers increasing, partitioned by month as before.
--
-- The agent numbers inside an observation are references no foreign key
-- can state (an array's elements): the constraint trigger
-- observation_agents_exist checks them, locking the agents as a foreign
-- key's check does, and refuses to remove or renumber an observed agent.
-- Every row is copied; the down migration packs them back.

-- +goose Up
ALTER TABLE defender_storage.agent_state ADD COLUMN agent_no integer;
UPDATE defender_storage.agent_state a
   SET agent_no = n.agent_no
  FROM (SELECT agent_key, row_number() OVER (PARTITION BY tenant_id ORDER BY agent_key)::integer AS agent_no
          FROM defender_storage.agent_state) n
 WHERE n.agent_key = a.agent_key;
ALTER TABLE defender_storage.agent_state
    ALTER COLUMN agent_no SET NOT NULL,
    ADD CONSTRAINT agent_state_agent_no_check CHECK (agent_no > 0),
    ADD CONSTRAINT agent_state_agent_no_key UNIQUE (tenant_id, agent_no);
COMMENT ON COLUMN defender_storage.agent_state.agent_no IS
    'Number of the agent within its tenant (1, 2, ...), in the order agents were first seen: how observations name it.';

CREATE TABLE defender_storage.agent_heartbeat (
    agent_key                 bigint NOT NULL,
    last_seen                 timestamptz,
    last_command_execution_at timestamptz,
    CONSTRAINT agent_heartbeat_pkey PRIMARY KEY (agent_key),
    CONSTRAINT agent_heartbeat_agent_key_fkey FOREIGN KEY (agent_key) REFERENCES defender_storage.agent_state (agent_key)
) WITH (fillfactor = 50);
COMMENT ON TABLE defender_storage.agent_heartbeat IS
    'Storage behind scan_agents: the volatile timestamps of each agent as its latest sync saw them, one narrow row per agent updated in place (half of each page is left free for that). No row: neither was ever reported.';
COMMENT ON COLUMN defender_storage.agent_heartbeat.agent_key IS 'The agent (agent_state.agent_key).';
COMMENT ON COLUMN defender_storage.agent_heartbeat.last_seen IS 'When the agent last checked in with Defender (UTC); empty if never.';
COMMENT ON COLUMN defender_storage.agent_heartbeat.last_command_execution_at IS 'When the scanner last ran a command (UTC); empty if never.';
INSERT INTO defender_storage.agent_heartbeat (agent_key, last_seen, last_command_execution_at)
SELECT a.agent_key, hb.last_seen[a.agent_key % 64 + 1], hb.last_command_execution_at[a.agent_key % 64 + 1]
  FROM defender_storage.agent_state a
  JOIN defender_storage.heartbeat_block hb ON hb.tenant_id = a.tenant_id AND hb.block = a.agent_key / 64
 WHERE hb.last_seen[a.agent_key % 64 + 1] IS NOT NULL
    OR hb.last_command_execution_at[a.agent_key % 64 + 1] IS NOT NULL;

CREATE FUNCTION defender_storage.agent_numbers_valid(agent_nos integer[]) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN pg_catalog.array_ndims(agent_nos) = 1 AND pg_catalog.array_lower(agent_nos, 1) = 1
   AND NOT EXISTS (SELECT FROM pg_catalog.unnest(agent_nos) WITH ORDINALITY n(agent_no, i)
                    WHERE n.agent_no IS NULL OR n.agent_no < 1 OR (n.i > 1 AND n.agent_no <= agent_nos[n.i - 1]));
COMMENT ON FUNCTION defender_storage.agent_numbers_valid(integer[]) IS
    'True when agent_nos is a non-empty list of agent numbers (1 and up) from index 1, strictly increasing: the check observation_agent_nos_valid.';
REVOKE ALL ON FUNCTION defender_storage.agent_numbers_valid(integer[]) FROM PUBLIC;

CREATE TABLE defender_storage.observation (
    observed_at               timestamptz   NOT NULL,
    run_id                    bigint        NOT NULL,
    agent_nos                 integer[]     NOT NULL,
    last_seen                 timestamptz[] NOT NULL,
    last_command_execution_at timestamptz[] NOT NULL,
    CONSTRAINT observation_pkey PRIMARY KEY (run_id, observed_at),
    CONSTRAINT observation_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender.sync_runs (run_id),
    CONSTRAINT observation_agent_nos_valid CHECK (defender_storage.agent_numbers_valid(agent_nos)),
    CONSTRAINT observation_arrays_match CHECK (
        pg_catalog.cardinality(last_seen) = pg_catalog.cardinality(agent_nos)
        AND pg_catalog.cardinality(last_command_execution_at) = pg_catalog.cardinality(agent_nos))
) PARTITION BY RANGE (observed_at);
COMMENT ON TABLE defender_storage.observation IS
    'Storage behind scan_agent_observations: what one sync of a tenant saw of the volatile timestamps of its agents whose values moved, one row per sync (its run names the tenant), in arrays by agent number. Partitioned by month of observed_at; OBSERVATION_RETENTION drops whole months.';
COMMENT ON COLUMN defender_storage.observation.observed_at IS 'Fetch time of the sync (sync_runs.fetched_at).';
COMMENT ON COLUMN defender_storage.observation.run_id IS 'The sync run that made the observations; its tenant is the agents''.';
COMMENT ON COLUMN defender_storage.observation.agent_nos IS 'agent_state.agent_no of each observed agent of the run''s tenant, increasing.';
COMMENT ON COLUMN defender_storage.observation.last_seen IS 'last_seen of each observed agent, in the order of agent_nos.';
COMMENT ON COLUMN defender_storage.observation.last_command_execution_at IS 'last_command_execution_at of each observed agent, in the order of agent_nos.';

-- +goose StatementBegin
CREATE FUNCTION defender_storage.check_observed_agents() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tenant text;
    found  integer;
BEGIN
    IF TG_TABLE_NAME = 'agent_state' THEN
        -- An agent removed or renumbered while an observation names it.
        IF EXISTS (SELECT FROM defender.sync_runs r
                     JOIN defender_storage.observation o ON o.run_id = r.run_id
                    WHERE r.tenant_id = OLD.tenant_id AND r.resource = 'agents'
                      AND OLD.agent_no = ANY (o.agent_nos)) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'foreign_key_violation',
                MESSAGE = 'update or delete on table "agent_state" violates constraint "observation_agents_exist"',
                DETAIL = pg_catalog.format('Agent %s of tenant %s is still named by observations.', OLD.agent_no, OLD.tenant_id),
                TABLE = 'agent_state', SCHEMA = 'defender_storage', CONSTRAINT = 'observation_agents_exist';
        END IF;
        RETURN NULL;
    END IF;
    -- A row of observation (of one of its partitions): every number names
    -- an agent of its run's tenant, locked against removal until the
    -- transaction ends, as a foreign key's check does.
    SELECT r.tenant_id INTO tenant FROM defender.sync_runs r WHERE r.run_id = NEW.run_id;
    SELECT count(*) INTO found FROM (
        SELECT FROM defender_storage.agent_state a
         WHERE a.tenant_id = tenant AND a.agent_no = ANY (NEW.agent_nos)
           FOR KEY SHARE OF a) k;
    IF found <> pg_catalog.cardinality(NEW.agent_nos) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'foreign_key_violation',
            MESSAGE = 'insert or update on table "observation" violates constraint "observation_agents_exist"',
            DETAIL = pg_catalog.format('%s of the agent numbers %s of run %s are not agents of tenant %s.',
                                       pg_catalog.cardinality(NEW.agent_nos) - found, NEW.agent_nos, NEW.run_id, tenant),
            TABLE = 'observation', SCHEMA = 'defender_storage', CONSTRAINT = 'observation_agents_exist';
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION defender_storage.check_observed_agents() IS
    'The constraint trigger observation_agents_exist: the agent numbers of an observation are agents of its run''s tenant (array elements, which no foreign key can reference).';
REVOKE ALL ON FUNCTION defender_storage.check_observed_agents() FROM PUBLIC;
CREATE CONSTRAINT TRIGGER observation_agents_exist
    AFTER INSERT OR UPDATE OF run_id, agent_nos ON defender_storage.observation
    FOR EACH ROW EXECUTE FUNCTION defender_storage.check_observed_agents();
CREATE CONSTRAINT TRIGGER observation_agents_exist
    AFTER DELETE OR UPDATE OF tenant_id, agent_no ON defender_storage.agent_state
    FOR EACH ROW EXECUTE FUNCTION defender_storage.check_observed_agents();

-- A tenant's versions by time: its changes of a period read its own
-- versions, not every tenant's.
CREATE INDEX scan_agent_history_by_tenant ON defender.scan_agent_history (tenant_id, valid_from);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.ensure_observation_partition(at timestamptz) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    month_start timestamp   := pg_catalog.date_trunc('month', at AT TIME ZONE 'UTC');
    lower_bound timestamptz := month_start AT TIME ZONE 'UTC';
    upper_bound timestamptz := (month_start + interval '1 month') AT TIME ZONE 'UTC';
    name        text        := 'observation_' || pg_catalog.to_char(month_start, 'YYYY_MM');
BEGIN
    IF pg_catalog.to_regclass('defender_storage.' || pg_catalog.quote_ident(name)) IS NOT NULL THEN
        RETURN name;
    END IF;
    -- Serializes creators; readers and writers go on.
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('agentsync observation partitions'));
    IF pg_catalog.to_regclass('defender_storage.' || pg_catalog.quote_ident(name)) IS NOT NULL THEN
        RETURN name;
    END IF;
    -- Created apart and attached: ATTACH PARTITION takes only a SHARE
    -- UPDATE EXCLUSIVE lock on the parent, which never blocks a read.
    EXECUTE pg_catalog.format(
        'CREATE TABLE defender_storage.%I (LIKE defender_storage.observation INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
    EXECUTE pg_catalog.format(
        'ALTER TABLE defender_storage.observation ATTACH PARTITION defender_storage.%I FOR VALUES FROM (%L) TO (%L)',
        name, lower_bound, upper_bound);
    EXECUTE pg_catalog.format(
        'COMMENT ON TABLE defender_storage.%I IS %L', name,
        'Observations of ' || pg_catalog.to_char(month_start, 'YYYY-MM') || ' (UTC): a partition of defender_storage.observation.');
    RETURN name;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION defender_storage.ensure_observation_partition(timestamptz) IS
    'Creates the monthly partition of observation that holds the given time, if missing, and returns its name. The loader calls it before each sync.';
-- The months the old observations cover, or will (this month and the next).
SELECT defender_storage.ensure_observation_partition(
           pg_catalog.to_date(pg_catalog.substr(c.relname, 19), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC')
  FROM pg_catalog.pg_inherits i
  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'defender_storage.observation_block'::pg_catalog.regclass;
INSERT INTO defender_storage.observation (observed_at, run_id, agent_nos, last_seen, last_command_execution_at)
SELECT b.observed_at, b.run_id,
       array_agg(a.agent_no ORDER BY a.agent_no),
       array_agg(x.last_seen ORDER BY a.agent_no),
       array_agg(x.last_command_execution_at ORDER BY a.agent_no)
  FROM defender_storage.observation_block b
 CROSS JOIN LATERAL unnest(b.slots, b.last_seen, b.last_command_execution_at) x(slot, last_seen, last_command_execution_at)
  JOIN defender_storage.agent_state a ON a.agent_key = b.block * 64 + x.slot
 GROUP BY b.observed_at, b.run_id;

-- +goose StatementBegin
CREATE OR REPLACE VIEW defender.scan_agents AS
 SELECT a.tenant_id,
    a.agent_id,
    a.machine_id,
    a.computer_dns_name,
    a.assigned_application_id,
    a.scanner_software_version,
    a.mde_client_version,
    hb.last_seen AS last_seen,
    hb.last_command_execution_at AS last_command_execution_at,
    a.extra,
    a.first_seen_at,
        CASE
            WHEN ((a.deleted_at IS NULL) AND (NOT (t.last_run_withheld AND (EXISTS ( SELECT
               FROM defender_storage.withheld_deletions w
              WHERE ((w.agent_key = a.agent_key) AND (w.run_id = t.last_run_id))))))) THEN t.last_fetched_at
            ELSE ( SELECT r.fetched_at
               FROM defender.sync_runs r
              WHERE ((r.tenant_id = a.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'succeeded'::text) AND (r.run_id < COALESCE(a.deleted_by_run_id, '9223372036854775807'::bigint)) AND (NOT (EXISTS ( SELECT
                       FROM defender_storage.withheld_deletions w
                      WHERE ((w.agent_key = a.agent_key) AND (w.run_id = r.run_id))))))
              ORDER BY r.run_id DESC
             LIMIT 1)
        END AS last_synced_at,
    a.deleted_at
   FROM ((defender_storage.agent_state a
     LEFT JOIN defender_storage.agent_heartbeat hb ON ((hb.agent_key = a.agent_key)))
     LEFT JOIN ( SELECT t_1.tenant_id,
            t_1.last_run_id,
            t_1.last_fetched_at,
            (EXISTS ( SELECT
                   FROM defender_storage.withheld_deletions w
                  WHERE (w.run_id = t_1.last_run_id))) AS last_run_withheld
           FROM defender_storage.tenants t_1) t ON ((t.tenant_id = a.tenant_id)));
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE VIEW defender.agent_daily_open AS
 SELECT a.agent_key,
    a.tenant_id,
    td.day,
    t.last_run_id AS run_id,
    t.last_fetched_at AS synced_at,
    a.computer_dns_name,
    a.mde_client_version,
    a.scanner_software_version,
    hb.last_seen AS last_seen,
    hb.last_command_execution_at AS last_command_execution_at,
    ((
        CASE
            WHEN (a.active_since <= td.first_synced_at) THEN td.syncs
            ELSE ( SELECT (count(*))::integer AS count
               FROM defender.sync_runs r
              WHERE ((r.tenant_id = a.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'succeeded'::text) AND (r.fetched_at >= a.active_since) AND (r.fetched_at <= t.last_fetched_at)))
        END -
        CASE
            WHEN (wh.agent_key IS NULL) THEN 0
            ELSE ( SELECT (count(*))::integer AS count
               FROM unnest(wh.withheld_at) x(at)
              WHERE (x.at >= GREATEST(a.active_since, td.first_synced_at)))
        END) + COALESCE(earlier.syncs_observed, 0)) AS syncs_observed
   FROM (((((defender_storage.tenants t
     JOIN defender_storage.tenant_daily td ON (((td.tenant_id = t.tenant_id) AND (td.day = defender.utc_day(t.last_fetched_at)))))
     JOIN defender_storage.agent_state a ON (((a.tenant_id = t.tenant_id) AND (a.deleted_at IS NULL))))
     LEFT JOIN defender_storage.agent_heartbeat hb ON ((hb.agent_key = a.agent_key)))
     LEFT JOIN defender_storage.agent_daily earlier ON (((earlier.agent_key = a.agent_key) AND (earlier.day = td.day))))
     LEFT JOIN ( SELECT w.agent_key,
            array_agg(r.fetched_at) AS withheld_at
           FROM ((defender_storage.tenants wt
             JOIN defender.sync_runs r ON (((r.tenant_id = wt.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'succeeded'::text) AND (r.fetched_at >= ((defender.utc_day(wt.last_fetched_at))::timestamp without time zone AT TIME ZONE 'UTC'::text)))))
             JOIN defender_storage.withheld_deletions w ON ((w.run_id = r.run_id)))
          GROUP BY w.agent_key) wh ON ((wh.agent_key = a.agent_key)));
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE VIEW defender.scan_coverage AS
 SELECT d.tenant_id,
    d.definition_id,
    d.scan_name,
    d.scan_type,
    d.target,
    d.interval_hours,
    latest.scanned_at AS last_scan_at,
    latest.status AS last_status,
    defender.scan_outcome(latest.status) AS last_outcome,
    ok.scanned_at AS last_success_at,
    bad.scanned_at AS last_failure_at,
    ( SELECT (count(*))::integer AS count
           FROM defender_storage.session_result s
          WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at > COALESCE(streak.scanned_at, '-infinity'::timestamp with time zone)) AND (defender.scan_outcome(s.status) = 'failure'::text))) AS consecutive_failures,
    d.scanner_agent_id,
    a.computer_dns_name AS scanner_host,
    hb.last_seen AS scanner_last_seen,
        CASE
            WHEN (a.agent_key IS NOT NULL) THEN ((hb.last_seen IS NULL) OR (hb.last_seen < (t.last_fetched_at - '7 days'::interval)))
            ELSE NULL::boolean
        END AS scanner_stale,
        CASE
            WHEN (a.agent_key IS NOT NULL) THEN (a.deleted_at IS NOT NULL)
            ELSE NULL::boolean
        END AS scanner_deleted,
    dr.run_id AS as_of_run_id,
    dr.fetched_at AS as_of_fetched_at,
    hr.run_id AS history_run_id,
    hr.fetched_at AS history_fetched_at
   FROM (((((((((defender_storage.definition_state d
     LEFT JOIN defender_storage.tenants t ON ((t.tenant_id = d.tenant_id)))
     LEFT JOIN defender_storage.agent_state a ON (((a.tenant_id = d.tenant_id) AND (a.agent_id = d.scanner_agent_id))))
     LEFT JOIN defender_storage.agent_heartbeat hb ON ((hb.agent_key = a.agent_key)))
     LEFT JOIN LATERAL ( SELECT s.scanned_at,
            s.status
           FROM defender_storage.session_result s
          WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL))
          ORDER BY s.scanned_at DESC
         LIMIT 1) latest ON (true))
     LEFT JOIN LATERAL ( SELECT s.scanned_at
           FROM defender_storage.session_result s
          WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL) AND (defender.scan_outcome(s.status) = 'success'::text))
          ORDER BY s.scanned_at DESC
         LIMIT 1) ok ON (true))
     LEFT JOIN LATERAL ( SELECT s.scanned_at
           FROM defender_storage.session_result s
          WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL) AND (defender.scan_outcome(s.status) = 'failure'::text))
          ORDER BY s.scanned_at DESC
         LIMIT 1) bad ON (true))
     LEFT JOIN LATERAL ( SELECT s.scanned_at
           FROM defender_storage.session_result s
          WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL) AND (defender.scan_outcome(s.status) = ANY (ARRAY['success'::text, 'partial'::text])))
          ORDER BY s.scanned_at DESC
         LIMIT 1) streak ON (true))
     LEFT JOIN LATERAL ( SELECT r.run_id,
            r.fetched_at
           FROM defender.sync_runs r
          WHERE ((r.tenant_id = d.tenant_id) AND (r.resource = 'definitions'::text) AND (r.status = 'succeeded'::text))
          ORDER BY r.fetched_at DESC
         LIMIT 1) dr ON (true))
     LEFT JOIN LATERAL ( SELECT r.run_id,
            r.fetched_at
           FROM defender.sync_runs r
          WHERE ((r.tenant_id = d.tenant_id) AND (r.resource = 'history'::text) AND (r.status = 'succeeded'::text))
          ORDER BY r.fetched_at DESC
         LIMIT 1) hr ON (true))
  WHERE ((d.deleted_at IS NULL) AND d.is_active);
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE VIEW defender.scan_agent_observations AS
 SELECT a.tenant_id,
    a.agent_id,
    r.run_id,
    r.fetched_at AS observed_at,
    x.last_seen,
    x.last_command_execution_at
   FROM (((defender.sync_runs r
     CROSS JOIN LATERAL ( SELECT o.agent_nos,
            o.last_seen,
            o.last_command_execution_at
           FROM defender_storage.observation o
          WHERE ((o.run_id = r.run_id) AND (o.observed_at = r.fetched_at))
         LIMIT 1) o)
     CROSS JOIN LATERAL UNNEST(o.agent_nos, o.last_seen, o.last_command_execution_at) x(agent_no, last_seen, last_command_execution_at))
     JOIN defender_storage.agent_state a ON (((a.tenant_id = r.tenant_id) AND (a.agent_no = x.agent_no))))
  WHERE ((r.resource = 'agents'::text) AND (r.status = 'succeeded'::text));
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender.scan_agents_as_of(at timestamp with time zone) RETURNS TABLE(tenant_id text, agent_id text, machine_id text, computer_dns_name text, assigned_application_id text, scanner_software_version text, mde_client_version text, last_seen timestamp with time zone, last_command_execution_at timestamp with time zone, extra jsonb, as_of_run_id bigint, as_of_fetched_at timestamp with time zone)
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    BEGIN ATOMIC
 WITH s AS (
          SELECT t.tenant_id,
             r.run_id,
             r.fetched_at,
             (r.run_id = t.last_run_id) AS latest,
             defender.utc_day(r.fetched_at) AS day,
             ((defender.utc_day(r.fetched_at))::timestamp without time zone AT TIME ZONE 'UTC'::text) AS day_start,
             (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE (w.run_id = r.run_id))) AS withheld
            FROM (defender_storage.tenants t
              CROSS JOIN LATERAL ( SELECT r_1.run_id,
                     r_1.fetched_at
                    FROM defender.sync_runs r_1
                   WHERE ((r_1.tenant_id = t.tenant_id) AND (r_1.resource = 'agents'::text) AND (r_1.status = 'succeeded'::text) AND (r_1.fetched_at <= scan_agents_as_of.at))
                   ORDER BY r_1.fetched_at DESC
                  LIMIT 1) r)
         ), current AS (
          SELECT s.tenant_id,
             a.agent_id,
             a.machine_id,
             a.computer_dns_name,
             a.assigned_application_id,
             a.scanner_software_version,
             a.mde_client_version,
             hb.last_seen AS last_seen,
             hb.last_command_execution_at AS last_command_execution_at,
             a.extra,
             s.run_id,
             s.fetched_at
            FROM ((s
              JOIN defender_storage.agent_state a ON (((a.tenant_id = s.tenant_id) AND (a.deleted_at IS NULL))))
              LEFT JOIN defender_storage.agent_heartbeat hb ON ((hb.agent_key = a.agent_key)))
           WHERE (s.latest AND (NOT (s.withheld AND (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE ((w.agent_key = a.agent_key) AND (w.run_id = s.run_id)))))))
         ), versions AS MATERIALIZED (
          SELECT s.run_id,
             s.fetched_at,
             s.day,
             s.day_start,
             a.tenant_id,
             h.agent_key,
             a.agent_no,
             h.agent_id,
             h.machine_id,
             h.computer_dns_name,
             h.assigned_application_id,
             h.scanner_software_version,
             h.mde_client_version,
             h.extra,
             h.valid_to
            FROM ((s
              JOIN defender_storage.agent_state a ON (((a.tenant_id = s.tenant_id) AND (a.first_seen_at <= s.fetched_at) AND ((a.deleted_at IS NULL) OR (a.deleted_at > s.fetched_at)))))
              CROSS JOIN LATERAL ( SELECT h_1.agent_key,
                     h_1.agent_id,
                     h_1.machine_id,
                     h_1.computer_dns_name,
                     h_1.assigned_application_id,
                     h_1.scanner_software_version,
                     h_1.mde_client_version,
                     h_1.extra,
                     h_1.valid_to
                    FROM defender.scan_agent_history h_1
                   WHERE ((h_1.agent_key = a.agent_key) AND (h_1.valid_from <= s.fetched_at))
                   ORDER BY h_1.valid_from DESC
                  LIMIT 1) h)
           WHERE ((NOT s.latest) AND ((h.valid_to IS NULL) OR (h.valid_to > s.fetched_at)) AND (NOT (s.withheld AND (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE ((w.agent_key = h.agent_key) AND (w.run_id = s.run_id)))))))
         ), day_obs AS MATERIALIZED (
          SELECT DISTINCT ON (r.tenant_id, x.agent_no) r.tenant_id,
             x.agent_no,
             x.last_seen,
             x.last_command_execution_at
            FROM (((s
              JOIN defender.sync_runs r ON (((r.tenant_id = s.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'succeeded'::text) AND (r.fetched_at >= s.day_start) AND (r.fetched_at <= s.fetched_at))))
              CROSS JOIN LATERAL ( SELECT o_1.observed_at,
                     o_1.agent_nos,
                     o_1.last_seen,
                     o_1.last_command_execution_at
                    FROM defender_storage.observation o_1
                   WHERE ((o_1.run_id = r.run_id) AND (o_1.observed_at = r.fetched_at))
                  LIMIT 1) o)
              CROSS JOIN LATERAL UNNEST(o.agent_nos, o.last_seen, o.last_command_execution_at) x(agent_no, last_seen, last_command_execution_at))
           WHERE (NOT s.latest)
           ORDER BY r.tenant_id, x.agent_no, o.observed_at DESC
         )
  SELECT c.tenant_id,
     c.agent_id,
     c.machine_id,
     c.computer_dns_name,
     c.assigned_application_id,
     c.scanner_software_version,
     c.mde_client_version,
     c.last_seen,
     c.last_command_execution_at,
     c.extra,
     c.run_id,
     c.fetched_at
    FROM current c
 UNION ALL
  SELECT v.tenant_id,
     v.agent_id,
     v.machine_id,
     v.computer_dns_name,
     v.assigned_application_id,
     v.scanner_software_version,
     v.mde_client_version,
         CASE
             WHEN (d.agent_no IS NOT NULL) THEN d.last_seen
             ELSE p.last_seen
         END AS last_seen,
         CASE
             WHEN (d.agent_no IS NOT NULL) THEN d.last_command_execution_at
             ELSE p.last_command_execution_at
         END AS last_command_execution_at,
     v.extra,
     v.run_id,
     v.fetched_at
    FROM ((versions v
      LEFT JOIN day_obs d ON (((d.tenant_id = v.tenant_id) AND (d.agent_no = v.agent_no))))
      LEFT JOIN LATERAL ( SELECT ad.last_seen,
             ad.last_command_execution_at
            FROM defender_storage.agent_daily ad
           WHERE ((d.agent_no IS NULL) AND (ad.agent_key = v.agent_key) AND (ad.day < v.day))
           ORDER BY ad.day DESC
          LIMIT 1) p ON (true));
END;
-- +goose StatementEnd

DROP TABLE defender_storage.observation_block;
DROP TABLE defender_storage.heartbeat_block;
DROP FUNCTION defender_storage.observation_slots_valid(smallint[]);

-- +goose Down
-- Schema 15 again: heartbeats and observations packed by blocks of 64
-- agent keys, every row packed back.
-- +goose StatementBegin
CREATE FUNCTION defender_storage.observation_slots_valid(slots smallint[]) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN array_ndims(slots) = 1 AND cardinality(slots) BETWEEN 1 AND 64
   AND NOT EXISTS (SELECT FROM unnest(slots) WITH ORDINALITY s(slot, n)
                    WHERE s.slot IS NULL OR s.slot NOT BETWEEN 0 AND 63 OR (s.n > 1 AND s.slot <= slots[s.n - 1]));
-- +goose StatementEnd
COMMENT ON FUNCTION defender_storage.observation_slots_valid(smallint[]) IS 'Internal: true when slots is a strictly increasing list of agent slots 0..63 (checks defender.observation_block).';
REVOKE ALL ON FUNCTION defender_storage.observation_slots_valid(smallint[]) FROM PUBLIC;

CREATE TABLE defender_storage.heartbeat_block (
    tenant_id text NOT NULL,
    block bigint NOT NULL,
    last_seen timestamp with time zone[] NOT NULL,
    last_command_execution_at timestamp with time zone[] NOT NULL,
    CONSTRAINT heartbeat_block_block_check CHECK ((block >= 0)),
    CONSTRAINT heartbeat_block_slots CHECK (((array_ndims(last_seen) = 1) AND (array_lower(last_seen, 1) = 1) AND (cardinality(last_seen) = 64) AND (array_ndims(last_command_execution_at) = 1) AND (array_lower(last_command_execution_at, 1) = 1) AND (cardinality(last_command_execution_at) = 64)))
)
WITH (fillfactor='50');
COMMENT ON TABLE defender_storage.heartbeat_block IS 'Storage behind scan_agents: the volatile timestamps of up to 64 agents of one tenant as their latest sync saw them, packed in arrays and updated in place. Agent key k is in block k / 64, at index k % 64 + 1.';
COMMENT ON COLUMN defender_storage.heartbeat_block.tenant_id IS 'Microsoft Entra tenant of the agents.';
COMMENT ON COLUMN defender_storage.heartbeat_block.block IS 'Agent keys block * 64 to block * 64 + 63 (see defender.agent_state).';
COMMENT ON COLUMN defender_storage.heartbeat_block.last_seen IS 'When each agent last checked in with Defender (UTC); empty if never, or if the key is not an agent of the tenant.';
COMMENT ON COLUMN defender_storage.heartbeat_block.last_command_execution_at IS 'When each scanner last ran a command (UTC); empty if never, or if the key is not an agent of the tenant.';

CREATE TABLE defender_storage.observation_block (
    observed_at timestamp with time zone NOT NULL,
    run_id bigint NOT NULL,
    block bigint NOT NULL,
    slots smallint[] NOT NULL,
    last_seen timestamp with time zone[] NOT NULL,
    last_command_execution_at timestamp with time zone[] NOT NULL,
    CONSTRAINT observation_block_arrays_match CHECK (((cardinality(last_seen) = cardinality(slots)) AND (cardinality(last_command_execution_at) = cardinality(slots)))),
    CONSTRAINT observation_block_block_check CHECK ((block >= 0)),
    CONSTRAINT observation_block_slots_check CHECK (defender_storage.observation_slots_valid(slots))
)
PARTITION BY RANGE (observed_at);
COMMENT ON TABLE defender_storage.observation_block IS 'Storage behind scan_agent_observations: what one sync saw of the volatile timestamps of up to 64 agents whose values changed, packed in arrays. Partitioned by month of observed_at; OBSERVATION_RETENTION drops whole months.';
COMMENT ON COLUMN defender_storage.observation_block.observed_at IS 'Fetch time of the sync (sync_runs.fetched_at).';
COMMENT ON COLUMN defender_storage.observation_block.run_id IS 'The sync run that made the observations.';
COMMENT ON COLUMN defender_storage.observation_block.block IS 'Agent key / 64: the agents of this row have keys block * 64 + slot.';
COMMENT ON COLUMN defender_storage.observation_block.slots IS 'Agent key % 64 of each observed agent, increasing.';
COMMENT ON COLUMN defender_storage.observation_block.last_seen IS 'last_seen of each observed agent, in the order of slots.';
COMMENT ON COLUMN defender_storage.observation_block.last_command_execution_at IS 'last_command_execution_at of each observed agent, in the order of slots.';

ALTER TABLE ONLY defender_storage.heartbeat_block ADD CONSTRAINT heartbeat_block_pkey PRIMARY KEY (tenant_id, block);
ALTER TABLE ONLY defender_storage.heartbeat_block
    ADD CONSTRAINT heartbeat_block_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES defender_storage.tenants(tenant_id);
ALTER TABLE ONLY defender_storage.observation_block ADD CONSTRAINT observation_block_pkey PRIMARY KEY (run_id, block, observed_at);
CREATE INDEX observation_block_by_block ON ONLY defender_storage.observation_block USING btree (block, observed_at);
ALTER TABLE defender_storage.observation_block
    ADD CONSTRAINT observation_block_run_id_fkey FOREIGN KEY (run_id) REFERENCES defender.sync_runs(run_id);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.ensure_observation_partition(at timestamp with time zone) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    month_start timestamp   := pg_catalog.date_trunc('month', at AT TIME ZONE 'UTC');
    lower_bound timestamptz := month_start AT TIME ZONE 'UTC';
    upper_bound timestamptz := (month_start + interval '1 month') AT TIME ZONE 'UTC';
    name        text        := 'observation_block_' || pg_catalog.to_char(month_start, 'YYYY_MM');
BEGIN
    IF pg_catalog.to_regclass('defender_storage.' || pg_catalog.quote_ident(name)) IS NOT NULL THEN
        RETURN name;
    END IF;
    -- Serializes creators; readers and writers go on.
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('agentsync observation partitions'));
    IF pg_catalog.to_regclass('defender_storage.' || pg_catalog.quote_ident(name)) IS NOT NULL THEN
        RETURN name;
    END IF;
    -- Created apart and attached: ATTACH PARTITION takes only a SHARE
    -- UPDATE EXCLUSIVE lock on the parent, which never blocks a read.
    EXECUTE pg_catalog.format(
        'CREATE TABLE defender_storage.%I (LIKE defender_storage.observation_block INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
    EXECUTE pg_catalog.format(
        'ALTER TABLE defender_storage.observation_block ATTACH PARTITION defender_storage.%I FOR VALUES FROM (%L) TO (%L)',
        name, lower_bound, upper_bound);
    EXECUTE pg_catalog.format(
        'COMMENT ON TABLE defender_storage.%I IS %L', name,
        'Observations of ' || pg_catalog.to_char(month_start, 'YYYY-MM') || ' (UTC): a partition of defender_storage.observation_block.');
    RETURN name;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION defender_storage.ensure_observation_partition(timestamptz) IS
    'Creates the monthly partition of observation_block that holds the given time, if missing, and returns its name. The loader calls it before each sync.';
SELECT defender_storage.ensure_observation_partition(
           pg_catalog.to_date(pg_catalog.substr(c.relname, 13), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC')
  FROM pg_catalog.pg_inherits i
  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'defender_storage.observation'::pg_catalog.regclass;

INSERT INTO defender_storage.heartbeat_block (tenant_id, block, last_seen, last_command_execution_at)
SELECT b.tenant_id, b.block,
       array_agg(h.last_seen ORDER BY s.slot), array_agg(h.last_command_execution_at ORDER BY s.slot)
  FROM (SELECT DISTINCT a.tenant_id, a.agent_key / 64 AS block
          FROM defender_storage.agent_state a JOIN defender_storage.agent_heartbeat h USING (agent_key)) b
 CROSS JOIN generate_series(0, 63) s(slot)
  LEFT JOIN defender_storage.agent_state a ON a.agent_key = b.block * 64 + s.slot AND a.tenant_id = b.tenant_id
  LEFT JOIN defender_storage.agent_heartbeat h ON h.agent_key = a.agent_key
 GROUP BY b.tenant_id, b.block;
INSERT INTO defender_storage.observation_block (observed_at, run_id, block, slots, last_seen, last_command_execution_at)
SELECT o.observed_at, o.run_id, a.agent_key / 64,
       array_agg((a.agent_key % 64)::smallint ORDER BY a.agent_key),
       array_agg(x.last_seen ORDER BY a.agent_key),
       array_agg(x.last_command_execution_at ORDER BY a.agent_key)
  FROM defender_storage.observation o
  JOIN defender.sync_runs r ON r.run_id = o.run_id
 CROSS JOIN LATERAL unnest(o.agent_nos, o.last_seen, o.last_command_execution_at) x(agent_no, last_seen, last_command_execution_at)
  JOIN defender_storage.agent_state a ON a.tenant_id = r.tenant_id AND a.agent_no = x.agent_no
 GROUP BY o.observed_at, o.run_id, a.agent_key / 64;

-- +goose StatementBegin
CREATE OR REPLACE VIEW defender.scan_agents AS
 SELECT a.tenant_id,
    a.agent_id,
    a.machine_id,
    a.computer_dns_name,
    a.assigned_application_id,
    a.scanner_software_version,
    a.mde_client_version,
    hb.last_seen[((a.agent_key % (64)::bigint) + 1)] AS last_seen,
    hb.last_command_execution_at[((a.agent_key % (64)::bigint) + 1)] AS last_command_execution_at,
    a.extra,
    a.first_seen_at,
        CASE
            WHEN ((a.deleted_at IS NULL) AND (NOT (t.last_run_withheld AND (EXISTS ( SELECT
               FROM defender_storage.withheld_deletions w
              WHERE ((w.agent_key = a.agent_key) AND (w.run_id = t.last_run_id))))))) THEN t.last_fetched_at
            ELSE ( SELECT r.fetched_at
               FROM defender.sync_runs r
              WHERE ((r.tenant_id = a.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'succeeded'::text) AND (r.run_id < COALESCE(a.deleted_by_run_id, '9223372036854775807'::bigint)) AND (NOT (EXISTS ( SELECT
                       FROM defender_storage.withheld_deletions w
                      WHERE ((w.agent_key = a.agent_key) AND (w.run_id = r.run_id))))))
              ORDER BY r.run_id DESC
             LIMIT 1)
        END AS last_synced_at,
    a.deleted_at
   FROM ((defender_storage.agent_state a
     LEFT JOIN defender_storage.heartbeat_block hb ON (((hb.tenant_id = a.tenant_id) AND (hb.block = (a.agent_key / 64)))))
     LEFT JOIN ( SELECT t_1.tenant_id,
            t_1.last_run_id,
            t_1.last_fetched_at,
            (EXISTS ( SELECT
                   FROM defender_storage.withheld_deletions w
                  WHERE (w.run_id = t_1.last_run_id))) AS last_run_withheld
           FROM defender_storage.tenants t_1) t ON ((t.tenant_id = a.tenant_id)));
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE VIEW defender.agent_daily_open AS
 SELECT a.agent_key,
    a.tenant_id,
    td.day,
    t.last_run_id AS run_id,
    t.last_fetched_at AS synced_at,
    a.computer_dns_name,
    a.mde_client_version,
    a.scanner_software_version,
    hb.last_seen[((a.agent_key % (64)::bigint) + 1)] AS last_seen,
    hb.last_command_execution_at[((a.agent_key % (64)::bigint) + 1)] AS last_command_execution_at,
    ((
        CASE
            WHEN (a.active_since <= td.first_synced_at) THEN td.syncs
            ELSE ( SELECT (count(*))::integer AS count
               FROM defender.sync_runs r
              WHERE ((r.tenant_id = a.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'succeeded'::text) AND (r.fetched_at >= a.active_since) AND (r.fetched_at <= t.last_fetched_at)))
        END -
        CASE
            WHEN (wh.agent_key IS NULL) THEN 0
            ELSE ( SELECT (count(*))::integer AS count
               FROM unnest(wh.withheld_at) x(at)
              WHERE (x.at >= GREATEST(a.active_since, td.first_synced_at)))
        END) + COALESCE(earlier.syncs_observed, 0)) AS syncs_observed
   FROM (((((defender_storage.tenants t
     JOIN defender_storage.tenant_daily td ON (((td.tenant_id = t.tenant_id) AND (td.day = defender.utc_day(t.last_fetched_at)))))
     JOIN defender_storage.agent_state a ON (((a.tenant_id = t.tenant_id) AND (a.deleted_at IS NULL))))
     LEFT JOIN defender_storage.heartbeat_block hb ON (((hb.tenant_id = a.tenant_id) AND (hb.block = (a.agent_key / 64)))))
     LEFT JOIN defender_storage.agent_daily earlier ON (((earlier.agent_key = a.agent_key) AND (earlier.day = td.day))))
     LEFT JOIN ( SELECT w.agent_key,
            array_agg(r.fetched_at) AS withheld_at
           FROM ((defender_storage.tenants wt
             JOIN defender.sync_runs r ON (((r.tenant_id = wt.tenant_id) AND (r.resource = 'agents'::text) AND (r.status = 'succeeded'::text) AND (r.fetched_at >= ((defender.utc_day(wt.last_fetched_at))::timestamp without time zone AT TIME ZONE 'UTC'::text)))))
             JOIN defender_storage.withheld_deletions w ON ((w.run_id = r.run_id)))
          GROUP BY w.agent_key) wh ON ((wh.agent_key = a.agent_key)));
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE VIEW defender.scan_coverage AS
 SELECT d.tenant_id,
    d.definition_id,
    d.scan_name,
    d.scan_type,
    d.target,
    d.interval_hours,
    latest.scanned_at AS last_scan_at,
    latest.status AS last_status,
    defender.scan_outcome(latest.status) AS last_outcome,
    ok.scanned_at AS last_success_at,
    bad.scanned_at AS last_failure_at,
    ( SELECT (count(*))::integer AS count
           FROM defender_storage.session_result s
          WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at > COALESCE(streak.scanned_at, '-infinity'::timestamp with time zone)) AND (defender.scan_outcome(s.status) = 'failure'::text))) AS consecutive_failures,
    d.scanner_agent_id,
    a.computer_dns_name AS scanner_host,
    hb.last_seen[((a.agent_key % (64)::bigint) + 1)] AS scanner_last_seen,
        CASE
            WHEN (a.agent_key IS NOT NULL) THEN ((hb.last_seen[((a.agent_key % (64)::bigint) + 1)] IS NULL) OR (hb.last_seen[((a.agent_key % (64)::bigint) + 1)] < (t.last_fetched_at - '7 days'::interval)))
            ELSE NULL::boolean
        END AS scanner_stale,
        CASE
            WHEN (a.agent_key IS NOT NULL) THEN (a.deleted_at IS NOT NULL)
            ELSE NULL::boolean
        END AS scanner_deleted,
    dr.run_id AS as_of_run_id,
    dr.fetched_at AS as_of_fetched_at,
    hr.run_id AS history_run_id,
    hr.fetched_at AS history_fetched_at
   FROM (((((((((defender_storage.definition_state d
     LEFT JOIN defender_storage.tenants t ON ((t.tenant_id = d.tenant_id)))
     LEFT JOIN defender_storage.agent_state a ON (((a.tenant_id = d.tenant_id) AND (a.agent_id = d.scanner_agent_id))))
     LEFT JOIN defender_storage.heartbeat_block hb ON (((hb.tenant_id = a.tenant_id) AND (hb.block = (a.agent_key / 64)))))
     LEFT JOIN LATERAL ( SELECT s.scanned_at,
            s.status
           FROM defender_storage.session_result s
          WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL))
          ORDER BY s.scanned_at DESC
         LIMIT 1) latest ON (true))
     LEFT JOIN LATERAL ( SELECT s.scanned_at
           FROM defender_storage.session_result s
          WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL) AND (defender.scan_outcome(s.status) = 'success'::text))
          ORDER BY s.scanned_at DESC
         LIMIT 1) ok ON (true))
     LEFT JOIN LATERAL ( SELECT s.scanned_at
           FROM defender_storage.session_result s
          WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL) AND (defender.scan_outcome(s.status) = 'failure'::text))
          ORDER BY s.scanned_at DESC
         LIMIT 1) bad ON (true))
     LEFT JOIN LATERAL ( SELECT s.scanned_at
           FROM defender_storage.session_result s
          WHERE ((s.tenant_id = d.tenant_id) AND (s.definition_id = d.definition_id) AND (s.scanned_at IS NOT NULL) AND (defender.scan_outcome(s.status) = ANY (ARRAY['success'::text, 'partial'::text])))
          ORDER BY s.scanned_at DESC
         LIMIT 1) streak ON (true))
     LEFT JOIN LATERAL ( SELECT r.run_id,
            r.fetched_at
           FROM defender.sync_runs r
          WHERE ((r.tenant_id = d.tenant_id) AND (r.resource = 'definitions'::text) AND (r.status = 'succeeded'::text))
          ORDER BY r.fetched_at DESC
         LIMIT 1) dr ON (true))
     LEFT JOIN LATERAL ( SELECT r.run_id,
            r.fetched_at
           FROM defender.sync_runs r
          WHERE ((r.tenant_id = d.tenant_id) AND (r.resource = 'history'::text) AND (r.status = 'succeeded'::text))
          ORDER BY r.fetched_at DESC
         LIMIT 1) hr ON (true))
  WHERE ((d.deleted_at IS NULL) AND d.is_active);
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE VIEW defender.scan_agent_observations AS
 SELECT a.tenant_id,
    a.agent_id,
    b.run_id,
    b.observed_at,
    o.last_seen,
    o.last_command_execution_at
   FROM ((defender_storage.agent_state a
     JOIN defender_storage.observation_block b ON ((b.block = (a.agent_key / 64))))
     CROSS JOIN LATERAL UNNEST(b.slots, b.last_seen, b.last_command_execution_at) o(slot, last_seen, last_command_execution_at))
  WHERE (o.slot = (a.agent_key % (64)::bigint));
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender.scan_agents_as_of(at timestamp with time zone) RETURNS TABLE(tenant_id text, agent_id text, machine_id text, computer_dns_name text, assigned_application_id text, scanner_software_version text, mde_client_version text, last_seen timestamp with time zone, last_command_execution_at timestamp with time zone, extra jsonb, as_of_run_id bigint, as_of_fetched_at timestamp with time zone)
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    BEGIN ATOMIC
 WITH s AS (
          SELECT t.tenant_id,
             r.run_id,
             r.fetched_at,
             (r.run_id = t.last_run_id) AS latest,
             defender.utc_day(r.fetched_at) AS day,
             ((defender.utc_day(r.fetched_at))::timestamp without time zone AT TIME ZONE 'UTC'::text) AS day_start,
             (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE (w.run_id = r.run_id))) AS withheld
            FROM (defender_storage.tenants t
              CROSS JOIN LATERAL ( SELECT r_1.run_id,
                     r_1.fetched_at
                    FROM defender.sync_runs r_1
                   WHERE ((r_1.tenant_id = t.tenant_id) AND (r_1.resource = 'agents'::text) AND (r_1.status = 'succeeded'::text) AND (r_1.fetched_at <= scan_agents_as_of.at))
                   ORDER BY r_1.fetched_at DESC
                  LIMIT 1) r)
         ), current AS (
          SELECT s.tenant_id,
             a.agent_id,
             a.machine_id,
             a.computer_dns_name,
             a.assigned_application_id,
             a.scanner_software_version,
             a.mde_client_version,
             hb.last_seen[((a.agent_key % (64)::bigint) + 1)] AS last_seen,
             hb.last_command_execution_at[((a.agent_key % (64)::bigint) + 1)] AS last_command_execution_at,
             a.extra,
             s.run_id,
             s.fetched_at
            FROM ((s
              JOIN defender_storage.agent_state a ON (((a.tenant_id = s.tenant_id) AND (a.deleted_at IS NULL))))
              LEFT JOIN defender_storage.heartbeat_block hb ON (((hb.tenant_id = a.tenant_id) AND (hb.block = (a.agent_key / 64)))))
           WHERE (s.latest AND (NOT (s.withheld AND (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE ((w.agent_key = a.agent_key) AND (w.run_id = s.run_id)))))))
         ), versions AS (
          SELECT s.run_id,
             s.fetched_at,
             s.day,
             s.day_start,
             a.tenant_id,
             h.agent_key,
             h.agent_id,
             h.machine_id,
             h.computer_dns_name,
             h.assigned_application_id,
             h.scanner_software_version,
             h.mde_client_version,
             h.extra,
             h.valid_to
            FROM ((s
              JOIN defender_storage.agent_state a ON (((a.tenant_id = s.tenant_id) AND (a.first_seen_at <= s.fetched_at) AND ((a.deleted_at IS NULL) OR (a.deleted_at > s.fetched_at)))))
              CROSS JOIN LATERAL ( SELECT h_1.agent_key,
                     h_1.agent_id,
                     h_1.machine_id,
                     h_1.computer_dns_name,
                     h_1.assigned_application_id,
                     h_1.scanner_software_version,
                     h_1.mde_client_version,
                     h_1.extra,
                     h_1.valid_to
                    FROM defender.scan_agent_history h_1
                   WHERE ((h_1.agent_key = a.agent_key) AND (h_1.valid_from <= s.fetched_at))
                   ORDER BY h_1.valid_from DESC
                  LIMIT 1) h)
           WHERE ((NOT s.latest) AND ((h.valid_to IS NULL) OR (h.valid_to > s.fetched_at)) AND (NOT (s.withheld AND (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE ((w.agent_key = h.agent_key) AND (w.run_id = s.run_id)))))))
         ), obs AS MATERIALIZED (
          SELECT b.run_id,
             b.observed_at,
             b.block,
             b.slots,
             b.last_seen,
             b.last_command_execution_at
            FROM (s
              JOIN defender_storage.observation_block b ON (((b.run_id = s.run_id) AND (b.observed_at >= s.day_start))))
           WHERE (NOT s.latest)
         ), seen AS MATERIALIZED (
          SELECT v.tenant_id,
             v.agent_id,
             v.machine_id,
             v.computer_dns_name,
             v.assigned_application_id,
             v.scanner_software_version,
             v.mde_client_version,
             v.extra,
             v.run_id,
             v.fetched_at,
             v.agent_key,
             v.day,
             v.day_start,
             (x.i IS NOT NULL) AS observed,
             o.last_seen[x.i] AS last_seen,
             o.last_command_execution_at[x.i] AS last_command_execution_at
            FROM ((versions v
              LEFT JOIN obs o ON (((o.run_id = v.run_id) AND (o.block = (v.agent_key / 64)) AND (o.observed_at = v.fetched_at))))
              CROSS JOIN LATERAL ( SELECT array_position(o.slots, ((v.agent_key % (64)::bigint))::smallint) AS i) x)
         )
  SELECT c.tenant_id,
     c.agent_id,
     c.machine_id,
     c.computer_dns_name,
     c.assigned_application_id,
     c.scanner_software_version,
     c.mde_client_version,
     c.last_seen,
     c.last_command_execution_at,
     c.extra,
     c.run_id,
     c.fetched_at
    FROM current c
 UNION ALL
  SELECT v.tenant_id,
     v.agent_id,
     v.machine_id,
     v.computer_dns_name,
     v.assigned_application_id,
     v.scanner_software_version,
     v.mde_client_version,
     v.last_seen,
     v.last_command_execution_at,
     v.extra,
     v.run_id,
     v.fetched_at
    FROM seen v
   WHERE v.observed
 UNION ALL
  SELECT v.tenant_id,
     v.agent_id,
     v.machine_id,
     v.computer_dns_name,
     v.assigned_application_id,
     v.scanner_software_version,
     v.mde_client_version,
         CASE
             WHEN e.found THEN e.last_seen
             ELSE p.last_seen
         END AS last_seen,
         CASE
             WHEN e.found THEN e.last_command_execution_at
             ELSE p.last_command_execution_at
         END AS last_command_execution_at,
     v.extra,
     v.run_id,
     v.fetched_at
    FROM ((seen v
      LEFT JOIN LATERAL ( SELECT true AS found,
             b.last_seen[x.i] AS last_seen,
             b.last_command_execution_at[x.i] AS last_command_execution_at
            FROM (defender_storage.observation_block b
              CROSS JOIN LATERAL ( SELECT array_position(b.slots, ((v.agent_key % (64)::bigint))::smallint) AS i) x)
           WHERE ((b.block = (v.agent_key / 64)) AND (b.observed_at >= v.day_start) AND (b.observed_at < v.fetched_at) AND (x.i IS NOT NULL))
           ORDER BY b.observed_at DESC
          LIMIT 1) e ON (true))
      LEFT JOIN LATERAL ( SELECT ad.last_seen,
             ad.last_command_execution_at
            FROM defender_storage.agent_daily ad
           WHERE ((e.found IS NULL) AND (ad.agent_key = v.agent_key) AND (ad.day < v.day))
           ORDER BY ad.day DESC
          LIMIT 1) p ON (true))
   WHERE (NOT v.observed);
END;
-- +goose StatementEnd

DROP INDEX defender.scan_agent_history_by_tenant;
DROP TRIGGER observation_agents_exist ON defender_storage.agent_state;
DROP TABLE defender_storage.observation;
DROP FUNCTION defender_storage.check_observed_agents();
DROP FUNCTION defender_storage.agent_numbers_valid(integer[]);
DROP TABLE defender_storage.agent_heartbeat;
ALTER TABLE defender_storage.agent_state DROP COLUMN agent_no;
