-- refresh_fleet_daily, which each agents sync that changed an agent (or
-- the first of a day) calls, was a SQL function: PostgreSQL plans its
-- three statements again at every call, the view of the open day
-- (defender.agent_daily_open) included, and that planning took most of
-- its time: 6 to 8 ms a call against 1.0 to 1.3 ms for the same
-- statements kept planned in PL/pgSQL, on a demo database of ten tenants.
-- The statements and what they write do not change; each plan finds its
-- rows by the tenant and day whatever the size of the tables when it is
-- made.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION defender_storage.refresh_fleet_daily(tenant text, day date) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
#variable_conflict use_column
BEGIN
    -- The day's counts: the agents active at its last successful sync
    -- (a closed day: its rows of agent_daily; the open day: the agents
    -- as stored now).
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
       WHERE ((v.tenant_id = refresh_fleet_daily.tenant) AND (v.day = refresh_fleet_daily.day) AND (NOT ( SELECT (td.mde_client_versions ? v.mde_client_version)
                FROM defender_storage.tenant_daily td
               WHERE ((td.tenant_id = refresh_fleet_daily.tenant) AND (td.day = refresh_fleet_daily.day)))));
    INSERT INTO defender_storage.tenant_daily_version AS v (tenant_id, day, mde_client_version, agents)  SELECT td.tenant_id,
                 td.day,
                 e.key,
                 (e.value)::integer AS value
                FROM (defender_storage.tenant_daily td
                  CROSS JOIN LATERAL jsonb_each_text(td.mde_client_versions) e(key, value))
               WHERE ((td.tenant_id = refresh_fleet_daily.tenant) AND (td.day = refresh_fleet_daily.day)) ON CONFLICT(tenant_id, day, mde_client_version) DO UPDATE SET agents = excluded.agents
       WHERE (v.agents <> excluded.agents);
END;
$$;
-- +goose StatementEnd

-- +goose Down
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
