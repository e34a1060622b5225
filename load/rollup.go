package load

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// dayState is what the daily rollups need to know of the tenant before a
// sync: the fetch time of its latest successful sync.
type dayState struct {
	previous time.Time // zero before the tenant's first successful sync
}

func utcDay(t time.Time) time.Time {
	return t.UTC().Truncate(24 * time.Hour)
}

// closesPrevious reports that a sync fetched at now is the first of a new
// day: the day of the previous sync is closed.
func (d dayState) closesPrevious(now time.Time) bool {
	return !d.previous.IsZero() && utcDay(d.previous).Before(utcDay(now))
}

// sameDay reports that a sync fetched at now falls on the day of the
// previous sync.
func (d dayState) sameDay(now time.Time) bool {
	return !d.previous.IsZero() && utcDay(d.previous).Equal(utcDay(now))
}

// storeOpenDay copies rows of the tenant's open day (the day of its
// previous sync, as that sync saw its active agents) from the view
// agent_daily_open into agent_daily. The view already adds what an earlier
// stretch of the same day stored, so a stored row is replaced.
const storeOpenDay = `
	INSERT INTO defender.agent_daily (agent_key, day, run_id, synced_at, computer_dns_name, mde_client_version,
	                                  scanner_software_version, last_seen, last_command_execution_at, syncs_observed)
	SELECT o.agent_key, o.day, o.run_id, o.synced_at, o.computer_dns_name, o.mde_client_version,
	       o.scanner_software_version, o.last_seen, o.last_command_execution_at, o.syncs_observed
	  FROM defender.agent_daily_open o
	 WHERE o.tenant_id = $1 %s
	ON CONFLICT (agent_key, day) DO UPDATE
	   SET run_id = excluded.run_id,
	       synced_at = excluded.synced_at,
	       computer_dns_name = excluded.computer_dns_name,
	       mde_client_version = excluded.mde_client_version,
	       scanner_software_version = excluded.scanner_software_version,
	       last_seen = excluded.last_seen,
	       last_command_execution_at = excluded.last_command_execution_at,
	       syncs_observed = excluded.syncs_observed`

// closeDay stores the closed day of every agent active at the previous
// sync. It runs before the sync changes anything.
func closeDay(tenant string) step {
	return step{"store the closed day", fmt.Sprintf(storeOpenDay, ""), []any{tenant}}
}

// keepDayOfDeleted stores today's row of the agents about to be marked
// deleted, as the previous sync of today saw them.
func keepDayOfDeleted(tenant string) step {
	return step{"store the day of deleted agents",
		fmt.Sprintf(storeOpenDay, "AND o.agent_key IN (SELECT m.agent_key FROM pg_temp.agentsync_missing m)"),
		[]any{tenant}}
}

// recordDay makes this sync the tenant's latest and the last of its day,
// and recounts the day's fleet. lastSeen, when not nil, is the last_seen
// of every active agent after a sync that changed no agent but its
// heartbeat (counts.lastSeen): on the day of the previous sync, the
// fleet's versions stand, and only what depends on last_seen is counted,
// by the rules of defender.refresh_fleet_daily.
func recordDay(tenant string, runID int64, fetchedAt time.Time, day dayState, lastSeen []pgtype.Timestamptz) []step {
	args := []any{tenant, fetchedAt, runID}
	count := step{"count the day's fleet", `SELECT defender.refresh_fleet_daily($1, defender.utc_day($2))`, args[:2]}
	if lastSeen != nil && day.sameDay(fetchedAt) {
		count = step{"count the day's stale agents", `
			UPDATE defender.tenant_daily td
			   SET stale_7d_agents = s.stale, never_seen_agents = s.never_seen
			  FROM (SELECT count(*) FILTER (WHERE ls.at <= $2::timestamptz - interval '7 days') AS stale,
			               count(*) FILTER (WHERE ls.at IS NULL) AS never_seen
			          FROM unnest($3::timestamptz[]) AS ls(at)) s
			 WHERE td.tenant_id = $1 AND td.day = defender.utc_day($2)`, []any{tenant, fetchedAt, lastSeen}}
	}
	return []step{
		{"record the sync's day", `
			INSERT INTO defender.tenant_daily (tenant_id, day, run_id, synced_at, first_synced_at, syncs)
			VALUES ($1, defender.utc_day($2), $3, $2, $2, 1)
			ON CONFLICT (tenant_id, day) DO UPDATE
			   SET run_id = excluded.run_id, synced_at = excluded.synced_at,
			       syncs = defender.tenant_daily.syncs + 1`, args},
		{"record the tenant's latest sync", `
			UPDATE defender.tenants SET last_run_id = $3, last_fetched_at = $2 WHERE tenant_id = $1`, args},
		count,
	}
}
