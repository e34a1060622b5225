-- Recounts only what depends on last_seen in the tenant's day, after a
-- sync on the day of the previous one that changed no agent but its
-- heartbeat, by the rules of defender_storage.refresh_fleet_daily: agents stale
-- for 7 days and agents never seen.
-- $1 tenant id, $2 fetch time, $3 last_seen of every active agent
-- (timestamptz[]).
UPDATE defender_storage.tenant_daily td
   SET stale_7d_agents = s.stale, never_seen_agents = s.never_seen
  FROM (SELECT count(*) FILTER (WHERE ls.at <= $2::timestamptz - interval '7 days') AS stale,
               count(*) FILTER (WHERE ls.at IS NULL) AS never_seen
          FROM unnest($3::timestamptz[]) AS ls(at)) s
 WHERE td.tenant_id = $1 AND td.day = defender.utc_day($2)
