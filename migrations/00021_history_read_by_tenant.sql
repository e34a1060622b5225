-- scan_agents_as_of for a time in the past, at the typical shape (many
-- tenants of tens of agents over years), reads per tenant rather than per
-- agent:
--
-- - scan_agent_history_by_tenant_span (GiST, tenant and validity) finds the
--   versions valid at a tenant's sync in one probe per tenant, instead of
--   one probe per agent of the agents' versions;
-- - agent_state_by_tenant_span covers a tenant's agents (key, number,
--   first seen, deleted), read without the heap;
-- - the sync's own observation answers for the agents whose heartbeat it
--   saw move, found by position in its array; only the others are looked
--   up in the day's earlier observations, and only for their tenants.
--
-- The answers do not change (the upgrade and as-of tests compare them).
--
-- The agents per Defender client version per day, kept as rows beside
-- fleet_daily's JSON object (defender_storage.tenant_daily_version, read
-- as defender.fleet_daily_versions): a year of every tenant's versions is
-- a scan, not a JSON expansion per day.

-- +goose Up
CREATE INDEX scan_agent_history_by_tenant_span ON defender.scan_agent_history
    USING gist (tenant_id, tstzrange(valid_from, valid_to, '[)'));
CREATE INDEX agent_state_by_tenant_span ON defender_storage.agent_state (tenant_id)
    INCLUDE (agent_key, agent_no, first_seen_at, deleted_at);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.scan_agents_as_of(at timestamp with time zone, viewer name, tenant text) RETURNS TABLE(tenant_id text, agent_id text, machine_id text, computer_dns_name text, assigned_application_id text, scanner_software_version text, mde_client_version text, last_seen timestamp with time zone, last_command_execution_at timestamp with time zone, extra jsonb, as_of_run_id bigint, as_of_fetched_at timestamp with time zone)
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    BEGIN ATOMIC
 WITH s AS MATERIALIZED (
          -- Per tenant, the latest successful sync at or before the time,
          -- with what it observed (the agents whose heartbeat moved).
          SELECT t.tenant_id,
             t.tenant_no,
             r.run_id,
             r.fetched_at,
             (r.run_id = t.last_run_id) AS latest,
             defender.utc_day(r.fetched_at) AS day,
             ((defender.utc_day(r.fetched_at))::timestamp without time zone AT TIME ZONE 'UTC'::text) AS day_start,
             (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE (w.run_id = r.run_id))) AS withheld,
             o.agent_nos,
             o.last_seen,
             o.last_command_execution_at
            FROM ((defender_storage.tenants t
              CROSS JOIN LATERAL ( SELECT r_1.run_id,
                     r_1.fetched_at
                    FROM defender_storage.sync_run r_1
                   WHERE ((r_1.tenant_no = t.tenant_no) AND (r_1.resource = 'a'::"char") AND (r_1.status = 's'::"char") AND (r_1.fetched_at <= scan_agents_as_of.at))
                   ORDER BY r_1.fetched_at DESC
                  LIMIT 1) r)
              LEFT JOIN LATERAL ( SELECT o_1.agent_nos,
                     o_1.last_seen,
                     o_1.last_command_execution_at
                    FROM defender_storage.observation o_1
                   WHERE ((r.run_id <> t.last_run_id) AND (o_1.run_id = r.run_id) AND (o_1.observed_at = r.fetched_at))
                  LIMIT 1) o ON (true))
           WHERE (((( SELECT defender_storage.visible_tenants(scan_agents_as_of.viewer) AS visible_tenants) IS NULL) OR (t.tenant_id = ANY (( SELECT defender_storage.visible_tenants(scan_agents_as_of.viewer) AS visible_tenants)::text[]))) AND ((scan_agents_as_of.tenant IS NULL) OR (t.tenant_id = lower(scan_agents_as_of.tenant))))
         ), current AS (
          SELECT s.tenant_id,
             a.agent_id,
             a.machine_id,
             a.computer_dns_name,
             a.assigned_application_id,
             a.scanner_software_version,
             a.mde_client_version,
             hb.last_seen,
             hb.last_command_execution_at,
             a.extra,
             s.run_id,
             s.fetched_at
            FROM ((s
              JOIN defender_storage.agent_state a ON (((a.tenant_id = s.tenant_id) AND (a.deleted_at IS NULL))))
              LEFT JOIN defender_storage.agent_heartbeat hb ON ((hb.agent_key = a.agent_key)))
           WHERE (s.latest AND (NOT (s.withheld AND (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE ((w.agent_key = a.agent_key) AND (w.run_id = s.run_id)))))))
         ), alive AS MATERIALIZED (
          -- The agents of each tenant at its sync.
          SELECT a_1.agent_key,
             a_1.agent_no,
             a_1.tenant_id
            FROM (s s_1
              JOIN defender_storage.agent_state a_1 ON (((a_1.tenant_id = s_1.tenant_id) AND (a_1.first_seen_at <= s_1.fetched_at) AND ((a_1.deleted_at IS NULL) OR (a_1.deleted_at > s_1.fetched_at)))))
           WHERE (NOT s_1.latest)
         ), versions AS MATERIALIZED (
          -- The version of each agent valid at its tenant's sync (one per
          -- agent: versions never overlap), and where that sync's
          -- observation holds the agent, if it does.
          SELECT s.run_id,
             s.fetched_at,
             s.day,
             s.day_start,
             a.tenant_id,
             s.tenant_no,
             h.agent_key,
             a.agent_no,
             h.agent_id,
             h.machine_id,
             h.computer_dns_name,
             h.assigned_application_id,
             h.scanner_software_version,
             h.mde_client_version,
             h.extra,
             s.last_seen[i.i] AS observed_last_seen,
             s.last_command_execution_at[i.i] AS observed_last_command_execution_at,
             i.i AS observed
            FROM (((s
              JOIN defender.scan_agent_history h ON (((h.tenant_id = s.tenant_id) AND (tstzrange(h.valid_from, h.valid_to, '[)'::text) @> s.fetched_at))))
              JOIN alive a ON ((a.agent_key = h.agent_key)))
              CROSS JOIN LATERAL array_position(s.agent_nos, a.agent_no) i(i))
           WHERE ((NOT s.latest) AND (NOT (s.withheld AND (EXISTS ( SELECT
                    FROM defender_storage.withheld_deletions w
                   WHERE ((w.agent_key = h.agent_key) AND (w.run_id = s.run_id)))))))
         ), unobserved AS MATERIALIZED (
          -- Per tenant, the agents that sync did not observe: their latest
          -- observation of the day, else the day before's.
          SELECT v.tenant_id,
             v.tenant_no,
             v.fetched_at,
             v.day_start,
             array_agg(v.agent_no) AS agent_nos
            FROM versions v
           WHERE (v.observed IS NULL)
           GROUP BY v.tenant_id, v.tenant_no, v.fetched_at, v.day_start
         ), day_obs AS MATERIALIZED (
          SELECT DISTINCT ON (u.tenant_id, n.agent_no) u.tenant_id,
             n.agent_no,
             o.last_seen[p.i] AS last_seen,
             o.last_command_execution_at[p.i] AS last_command_execution_at
            FROM ((((unobserved u
              JOIN defender_storage.sync_run r ON (((r.tenant_no = u.tenant_no) AND (r.resource = 'a'::"char") AND (r.status = 's'::"char") AND (r.fetched_at >= u.day_start) AND (r.fetched_at < u.fetched_at))))
              CROSS JOIN LATERAL ( SELECT o_1.observed_at,
                     o_1.agent_nos,
                     o_1.last_seen,
                     o_1.last_command_execution_at
                    FROM defender_storage.observation o_1
                   WHERE ((o_1.run_id = r.run_id) AND (o_1.observed_at = r.fetched_at))
                  LIMIT 1) o)
              CROSS JOIN LATERAL unnest(u.agent_nos) n(agent_no))
              CROSS JOIN LATERAL array_position(o.agent_nos, n.agent_no) p(i))
           WHERE (p.i IS NOT NULL)
           ORDER BY u.tenant_id, n.agent_no, o.observed_at DESC
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
             WHEN (v.observed IS NOT NULL) THEN v.observed_last_seen
             WHEN (d.agent_no IS NOT NULL) THEN d.last_seen
             ELSE p.last_seen
         END AS last_seen,
         CASE
             WHEN (v.observed IS NOT NULL) THEN v.observed_last_command_execution_at
             WHEN (d.agent_no IS NOT NULL) THEN d.last_command_execution_at
             ELSE p.last_command_execution_at
         END AS last_command_execution_at,
     v.extra,
     v.run_id,
     v.fetched_at
    FROM ((versions v
      LEFT JOIN day_obs d ON (((v.observed IS NULL) AND (d.tenant_id = v.tenant_id) AND (d.agent_no = v.agent_no))))
      LEFT JOIN LATERAL ( SELECT ad.last_seen,
             ad.last_command_execution_at
            FROM defender_storage.agent_daily ad
           WHERE ((v.observed IS NULL) AND (d.agent_no IS NULL) AND (ad.agent_key = v.agent_key) AND (ad.day < v.day))
           ORDER BY ad.day DESC
          LIMIT 1) p ON (true));
END;
-- +goose StatementEnd

CREATE TABLE defender_storage.tenant_daily_version (
    tenant_id text NOT NULL,
    day date NOT NULL,
    mde_client_version text NOT NULL,
    agents integer NOT NULL,
    CONSTRAINT tenant_daily_version_pkey PRIMARY KEY (tenant_id, day, mde_client_version),
    CONSTRAINT tenant_daily_version_day_fkey FOREIGN KEY (tenant_id, day)
        REFERENCES defender_storage.tenant_daily (tenant_id, day) ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT tenant_daily_version_agents_check CHECK (agents > 0)
);
COMMENT ON TABLE defender_storage.tenant_daily_version IS
    'Storage behind defender.fleet_daily_versions: tenant_daily.mde_client_versions one row per version, kept equal to it by refresh_fleet_daily. Query defender.fleet_daily_versions instead.';
INSERT INTO defender_storage.tenant_daily_version (tenant_id, day, mde_client_version, agents)
SELECT td.tenant_id, td.day, e.key, e.value::integer
  FROM defender_storage.tenant_daily td
 CROSS JOIN LATERAL jsonb_each_text(td.mde_client_versions) e;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.refresh_fleet_daily(tenant text, day date) RETURNS void
    LANGUAGE sql
    BEGIN ATOMIC
 WITH fleet AS (
          SELECT d.mde_client_version,
             d.last_seen,
             td_1.synced_at
            FROM (defender_storage.tenant_daily td_1
              JOIN defender_storage.agent_daily d ON (((d.day = td_1.day) AND (d.run_id = td_1.run_id))))
           WHERE ((td_1.tenant_id = refresh_fleet_daily.tenant) AND (td_1.day = refresh_fleet_daily.day) AND (refresh_fleet_daily.day <> ( SELECT defender.utc_day(t.last_fetched_at) AS utc_day
                    FROM defender_storage.tenants t
                   WHERE (t.tenant_id = refresh_fleet_daily.tenant))))
         UNION ALL
          SELECT o.mde_client_version,
             o.last_seen,
             o.synced_at
            FROM defender.agent_daily_open o
           WHERE ((o.tenant_id = refresh_fleet_daily.tenant) AND (o.day = refresh_fleet_daily.day))
         ), versions AS (
          SELECT v.mde_client_version,
             v.agents,
             v.stale,
             v.never_seen,
             defender.version_key(v.mde_client_version) AS key
            FROM ( SELECT f.mde_client_version,
                     count(*) AS agents,
                     count(*) FILTER (WHERE (f.last_seen <= (f.synced_at - '7 days'::interval))) AS stale,
                     count(*) FILTER (WHERE (f.last_seen IS NULL)) AS never_seen
                    FROM fleet f
                   GROUP BY f.mde_client_version) v
         ), newest AS (
          SELECT v.key,
             v.mde_client_version AS version
            FROM versions v
           WHERE (v.key IS NOT NULL)
           ORDER BY v.key DESC, (length(v.mde_client_version)) DESC, v.mde_client_version
          LIMIT 1
         )
  UPDATE defender_storage.tenant_daily AS td SET active_agents = COALESCE(s.active, (0)::numeric), stale_7d_agents = COALESCE(s.stale, (0)::numeric), never_seen_agents = COALESCE(s.never_seen, (0)::numeric), newest_mde_client_version = ( SELECT newest.version
            FROM newest), agents_on_newest = COALESCE(s.on_newest, (0)::numeric), mde_client_versions = s.counts
    FROM ( SELECT sum(v.agents) AS active,
             sum(v.stale) AS stale,
             sum(v.never_seen) AS never_seen,
             sum(v.agents) FILTER (WHERE (v.key = ( SELECT newest.key
                    FROM newest))) AS on_newest,
             COALESCE(jsonb_object_agg(v.mde_client_version, v.agents) FILTER (WHERE (v.mde_client_version IS NOT NULL)), '{}'::jsonb) AS counts
            FROM versions v) s
   WHERE ((td.tenant_id = refresh_fleet_daily.tenant) AND (td.day = refresh_fleet_daily.day));
  -- The same counts one row per version, for reading without JSON
  -- (defender.fleet_daily_versions): versions gone from the day are
  -- removed, counts written only when they changed.
  DELETE FROM defender_storage.tenant_daily_version AS v
   WHERE v.tenant_id = refresh_fleet_daily.tenant AND v.day = refresh_fleet_daily.day
     AND NOT (SELECT td.mde_client_versions ? v.mde_client_version
                FROM defender_storage.tenant_daily td
               WHERE td.tenant_id = refresh_fleet_daily.tenant AND td.day = refresh_fleet_daily.day);
  INSERT INTO defender_storage.tenant_daily_version AS v (tenant_id, day, mde_client_version, agents)
  SELECT td.tenant_id, td.day, e.key, e.value::integer
    FROM defender_storage.tenant_daily td
   CROSS JOIN LATERAL jsonb_each_text(td.mde_client_versions) e
   WHERE td.tenant_id = refresh_fleet_daily.tenant AND td.day = refresh_fleet_daily.day
      ON CONFLICT (tenant_id, day, mde_client_version) DO UPDATE SET agents = excluded.agents
   WHERE v.agents <> excluded.agents;
END;
-- +goose StatementEnd

-- Filtered like every view of schema defender (00017): a role given
-- tenants sees theirs alone.
CREATE VIEW defender.fleet_daily_versions WITH (security_barrier) AS
SELECT v.*
  FROM (
     SELECT tv.tenant_id, tv.day, tv.mde_client_version, tv.agents
       FROM defender_storage.tenant_daily_version tv
       ) v
 WHERE (SELECT defender_storage.visible_tenants(CURRENT_USER)) IS NULL
    OR v.tenant_id = ANY ((SELECT defender_storage.visible_tenants(CURRENT_USER))::text[]);
COMMENT ON VIEW defender.fleet_daily_versions IS
    'Agents per Defender client version per tenant per UTC day, as the day''s last successful sync saw them: fleet_daily.mde_client_versions one row per version (agents without a version are left out). Kept for ever, like fleet_daily.';
COMMENT ON COLUMN defender.fleet_daily_versions.tenant_id IS 'Microsoft Entra tenant (GUID or domain, lower case).';
COMMENT ON COLUMN defender.fleet_daily_versions.day IS 'UTC day.';
COMMENT ON COLUMN defender.fleet_daily_versions.mde_client_version IS 'Defender client version.';
COMMENT ON COLUMN defender.fleet_daily_versions.agents IS 'Active agents on that version at the day''s last successful sync.';
SELECT defender.grant_reader_access();

-- +goose Down
DROP VIEW defender.fleet_daily_versions;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.refresh_fleet_daily(tenant text, day date) RETURNS void
    LANGUAGE sql
    BEGIN ATOMIC
 WITH fleet AS (
          SELECT d.mde_client_version,
             d.last_seen,
             td_1.synced_at
            FROM (defender_storage.tenant_daily td_1
              JOIN defender_storage.agent_daily d ON (((d.day = td_1.day) AND (d.run_id = td_1.run_id))))
           WHERE ((td_1.tenant_id = refresh_fleet_daily.tenant) AND (td_1.day = refresh_fleet_daily.day) AND (refresh_fleet_daily.day <> ( SELECT defender.utc_day(t.last_fetched_at) AS utc_day
                    FROM defender_storage.tenants t
                   WHERE (t.tenant_id = refresh_fleet_daily.tenant))))
         UNION ALL
          SELECT o.mde_client_version,
             o.last_seen,
             o.synced_at
            FROM defender.agent_daily_open o
           WHERE ((o.tenant_id = refresh_fleet_daily.tenant) AND (o.day = refresh_fleet_daily.day))
         ), versions AS (
          SELECT v.mde_client_version,
             v.agents,
             v.stale,
             v.never_seen,
             defender.version_key(v.mde_client_version) AS key
            FROM ( SELECT f.mde_client_version,
                     count(*) AS agents,
                     count(*) FILTER (WHERE (f.last_seen <= (f.synced_at - '7 days'::interval))) AS stale,
                     count(*) FILTER (WHERE (f.last_seen IS NULL)) AS never_seen
                    FROM fleet f
                   GROUP BY f.mde_client_version) v
         ), newest AS (
          SELECT v.key,
             v.mde_client_version AS version
            FROM versions v
           WHERE (v.key IS NOT NULL)
           ORDER BY v.key DESC, (length(v.mde_client_version)) DESC, v.mde_client_version
          LIMIT 1
         )
  UPDATE defender_storage.tenant_daily AS td SET active_agents = COALESCE(s.active, (0)::numeric), stale_7d_agents = COALESCE(s.stale, (0)::numeric), never_seen_agents = COALESCE(s.never_seen, (0)::numeric), newest_mde_client_version = ( SELECT newest.version
            FROM newest), agents_on_newest = COALESCE(s.on_newest, (0)::numeric), mde_client_versions = s.counts
    FROM ( SELECT sum(v.agents) AS active,
             sum(v.stale) AS stale,
             sum(v.never_seen) AS never_seen,
             sum(v.agents) FILTER (WHERE (v.key = ( SELECT newest.key
                    FROM newest))) AS on_newest,
             COALESCE(jsonb_object_agg(v.mde_client_version, v.agents) FILTER (WHERE (v.mde_client_version IS NOT NULL)), '{}'::jsonb) AS counts
            FROM versions v) s
   WHERE ((td.tenant_id = refresh_fleet_daily.tenant) AND (td.day = refresh_fleet_daily.day));
END;
-- +goose StatementEnd
DROP TABLE defender_storage.tenant_daily_version;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.scan_agents_as_of(at timestamp with time zone, viewer name, tenant text) RETURNS TABLE(tenant_id text, agent_id text, machine_id text, computer_dns_name text, assigned_application_id text, scanner_software_version text, mde_client_version text, last_seen timestamp with time zone, last_command_execution_at timestamp with time zone, extra jsonb, as_of_run_id bigint, as_of_fetched_at timestamp with time zone)
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    BEGIN ATOMIC
 WITH s AS (
          SELECT t.tenant_id,
             t.tenant_no,
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
                    FROM defender_storage.sync_run r_1
                   WHERE ((r_1.tenant_no = t.tenant_no) AND (r_1.resource = 'a'::"char") AND (r_1.status = 's'::"char") AND (r_1.fetched_at <= scan_agents_as_of.at))
                   ORDER BY r_1.fetched_at DESC
                  LIMIT 1) r)
           WHERE (((( SELECT defender_storage.visible_tenants(scan_agents_as_of.viewer) AS visible_tenants) IS NULL) OR (t.tenant_id = ANY (( SELECT defender_storage.visible_tenants(scan_agents_as_of.viewer) AS visible_tenants)::text[]))) AND ((scan_agents_as_of.tenant IS NULL) OR (t.tenant_id = lower(scan_agents_as_of.tenant))))
         ), current AS (
          SELECT s.tenant_id,
             a.agent_id,
             a.machine_id,
             a.computer_dns_name,
             a.assigned_application_id,
             a.scanner_software_version,
             a.mde_client_version,
             hb.last_seen,
             hb.last_command_execution_at,
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
          SELECT DISTINCT ON (s.tenant_id, x.agent_no) s.tenant_id,
             x.agent_no,
             x.last_seen,
             x.last_command_execution_at
            FROM (((s
              JOIN defender_storage.sync_run r ON (((r.tenant_no = s.tenant_no) AND (r.resource = 'a'::"char") AND (r.status = 's'::"char") AND (r.fetched_at >= s.day_start) AND (r.fetched_at <= s.fetched_at))))
              CROSS JOIN LATERAL ( SELECT o_1.observed_at,
                     o_1.agent_nos,
                     o_1.last_seen,
                     o_1.last_command_execution_at
                    FROM defender_storage.observation o_1
                   WHERE ((o_1.run_id = r.run_id) AND (o_1.observed_at = r.fetched_at))
                  LIMIT 1) o)
              CROSS JOIN LATERAL UNNEST(o.agent_nos, o.last_seen, o.last_command_execution_at) x(agent_no, last_seen, last_command_execution_at))
           WHERE (NOT s.latest)
           ORDER BY s.tenant_id, x.agent_no, o.observed_at DESC
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
DROP INDEX defender_storage.agent_state_by_tenant_span;
DROP INDEX defender.scan_agent_history_by_tenant_span;
