package load

import (
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

// closeDay stores the closed day of every agent active at the previous
// sync. It runs before the sync changes anything.
func closeDay(tenant string) step {
	return step{"store the closed day", query("rollup_store_closed_day"), []any{tenant}}
}

// keepDayOfDeleted stores today's row of the agents about to be marked
// deleted, as the previous sync of today saw them.
func keepDayOfDeleted(tenant string) step {
	return step{"store the day of deleted agents",
		query("rollup_store_day_of_deleted"), []any{tenant}}
}

// recordDay makes this sync the tenant's latest and the last of its day,
// and recounts the day's fleet. lastSeen, when not nil, is the last_seen
// of every active agent after a sync that changed no agent but its
// heartbeat (counts.lastSeen): on the day of the previous sync, the
// fleet's versions stand, and only what depends on last_seen is counted,
// by the rules of defender_storage.refresh_fleet_daily.
func recordDay(tenant string, runID int64, fetchedAt time.Time, day dayState, lastSeen []pgtype.Timestamptz) []step {
	args := []any{tenant, fetchedAt, runID}
	count := step{"count the day's fleet", query("rollup_count_fleet"), args[:2]}
	if lastSeen != nil && day.sameDay(fetchedAt) {
		count = step{"count the day's stale agents", query("rollup_count_stale"), []any{tenant, fetchedAt, lastSeen}}
	}
	return []step{
		{"record the sync's day", query("rollup_record_day"), args},
		{"record the tenant's latest sync", query("rollup_record_latest_sync"), args},
		count,
	}
}
