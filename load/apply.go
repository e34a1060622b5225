package load

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// counts are what applying one listing did.
type counts struct {
	seen, inserted, changed, unchanged, deleted, withheld int
	// heartbeatOnly counts the known agents of which only the heartbeat
	// moved: not changed, yet not unchanged.
	heartbeatOnly int
	// lastSeen, when the sync changed no agent but its heartbeat (none
	// came, went, returned or changed a descriptive value), is the
	// last_seen of every active agent after it: the day's fleet keeps its
	// versions and recounts only what depends on last_seen.
	lastSeen []pgtype.Timestamptz
}

// step is one set-based statement of a sync.
type step struct {
	what string
	sql  string
	args []any
}

// logStep logs at debug level how long a step of a sync took since start.
func logStep(log *slog.Logger, what string, start time.Time, attrs ...any) {
	log.Debug("sync step", append([]any{"step", what, "duration", time.Since(start).Round(time.Microsecond).String()}, attrs...)...)
}

// applyStaged applies the listing: the staged records (new agents,
// returning ones, and known ones whose fingerprint differs), the moved
// heartbeats known queued, and the deletions, each as one set-based
// statement. Unchanged agents are never written, and an agent whose
// heartbeat alone moved is written only in its heartbeat row (in place)
// and in the tenant's one observation row of the sync.
//
// Descriptive attributes (every column but last_seen and
// last_command_execution_at) make history versions; the two volatile
// timestamps make observations instead. The statements name the columns of
// each group explicitly: keep them in step with the schema.
//
// unidentified counts the listing's records without a usable id: when
// there are any, no agent is deleted (see withhold below).
//
// It sends the comparison and the insert of new agents, and queues on last
// the writes that follow (heartbeats, versions, deletions) for the caller
// to send with the run's record; once last is sent, check tells whether
// every heartbeat was written.
func (l *Loader) applyStaged(dbCtx context.Context, tx pgx.Tx, runID int64, fetchedAt time.Time, day dayState,
	known *knownAgents, staged, unidentified int, last *batch) (c counts, check func() error, err error) {
	tenant := l.cfg.TenantID
	unchangedKnown, movedKnown, missingKeys := known.outcome()
	c = counts{seen: staged + unchangedKnown + movedKnown}

	// One round trip, sent only when it has something to do. Before
	// anything changes, the state is the one the tenant's previous sync
	// saw: if that was on an earlier day, that day is now closed.
	var first batch
	if day.closesPrevious(fetchedAt) {
		first.exec(closeDay(tenant), nil)
	}
	// Then the staged agents whose row must be written (new, returning,
	// with a changed descriptive value, or with a fingerprint to store:
	// few, except on a first sync), as the comparison finds them, and the
	// new agents (state and first version), in one statement that returns
	// what the sync saw of their heartbeats and of the moved heartbeats of
	// staged known agents. A tenant's first agents are all new: nothing to
	// compare them with; each gets its key as it is inserted, and every
	// table is filled straight from the staged records. A sync that staged
	// nothing (its agents unchanged, or only their heartbeats moved) has
	// nothing to compare or insert.
	var (
		rewritten, knownWrites int
		obs                    []observation
		o                      observation
		heartbeatOnly          bool
	)
	if staged > 0 {
		insertAgents := query("agents_insert_new")
		if known.noneStored {
			c.inserted = staged
			insertAgents = query("agents_insert_first")
		} else {
			first.queryRow(step{"compare with stored agents", query("agents_compare"), []any{tenant}}, &c.inserted, &rewritten, &knownWrites)
		}
		first.query(step{"insert new agents", insertAgents, []any{tenant, fetchedAt, runID}}, []any{&o.key, &o.no, &o.lastSeen, &o.lastCmd, &heartbeatOnly}, func() error {
			obs = append(obs, o)
			if heartbeatOnly {
				c.heartbeatOnly++
			}
			return nil
		})
	}
	if err := first.send(dbCtx, tx, l.cfg.Logger, "compare and insert new agents"); err != nil {
		return c, nil, err
	}
	c.changed = rewritten
	missing := len(missingKeys)
	withhold, why := l.withholdDeletions(missing, len(known.agents), unidentified)

	// When no agent came, went, returned or changed a descriptive value,
	// the day's fleet is recounted from the last_seen values held here
	// (counts.lastSeen): the moves of staged agents are among them.
	var stagedMoves map[int64]pgtype.Timestamptz
	if c.inserted == 0 && rewritten == 0 && missing == 0 {
		stagedMoves = make(map[int64]pgtype.Timestamptz, len(obs))
		for _, o := range obs {
			stagedMoves[o.key] = o.lastSeen
		}
	}

	// Unchanged agents whose heartbeat alone moved (none of them staged).
	n := len(obs)
	obs = known.movedHeartbeats(obs)
	c.heartbeatOnly += len(obs) - n
	// Every new or moved heartbeat is written in place and observed.
	var written int
	queueHeartbeats(last, fetchedAt, runID, obs, &written)
	c.unchanged = c.seen - c.inserted - c.changed - c.heartbeatOnly

	all := []any{tenant, fetchedAt, runID}
	var steps []step
	if rewritten > 0 { // known agents with a descriptive write
		steps = append(steps, []step{
			// Close the current version of agents whose descriptive attributes
			// changed; deleted agents have none open.
			{"close changed history versions", query("agents_close_changed_versions"),
				[]any{fetchedAt, runID}},
			{"open new history versions", query("agents_open_new_versions"), all},
		}...)
	}
	if knownWrites > 0 { // known agents with a row to write: a change, a return, or a fingerprint
		steps = append(steps, step{"update changed agents", query("agents_update_changed"),
			[]any{fetchedAt}})
	}
	if missing > 0 {
		steps = append(steps, step{"record missing agents", query("agents_record_missing"),
			[]any{missingKeys}})
	}
	switch {
	case missing > 0 && withhold:
		steps = append(steps, step{"record withheld deletions", query("agents_record_withheld"), []any{runID}})
	case missing > 0:
		if day.sameDay(fetchedAt) {
			// The agents were active at an earlier sync of today: their day
			// so far is stored before they go.
			steps = append(steps, keepDayOfDeleted(tenant))
		}
		steps = append(steps, step{"delete missing agents", query("agents_delete_missing"),
			[]any{fetchedAt, runID}})
	}
	for _, s := range steps {
		last.exec(s, nil)
	}

	if withhold {
		c.withheld = missing
		l.logWithheld("agents", why, runID, missing, len(known.agents), unidentified)
	} else {
		c.deleted = missing
	}
	if stagedMoves != nil {
		c.lastSeen = known.lastSeenAfter(stagedMoves)
	}
	return c, func() error { return checkHeartbeats(obs, written) }, nil
}

// Why a sync withholds its deletions.
const (
	withheldUnidentified = "unidentified"
	withheldMassDeletion = "mass deletion"
)

// withholdDeletions decides whether a complete listing that misses
// missing of the active records withholds its deletions, and why: a
// record without a usable id may be any record the listing seems to lack,
// so such a listing deletes none, whatever the guard allows; else the
// mass-deletion guard decides.
func (l *Loader) withholdDeletions(missing, active, unidentified int) (bool, string) {
	switch {
	case missing <= 0:
		return false, ""
	case unidentified > 0:
		return true, withheldUnidentified
	case !l.cfg.AllowMassDeletion && missing > l.cfg.MaxDeletedCount && float64(missing) > l.cfg.MaxDeletedFraction*float64(active):
		return true, withheldMassDeletion
	}
	return false, ""
}

// rejectedLine is the log message of a rejected record, by records.
var rejectedLine = map[string]string{"agents": "agent rejected", "definitions": "scan definition rejected"}

// logWithheld warns that a sync of records (agents, definitions) withheld
// its deletions, saying why and what to do.
func (l *Loader) logWithheld(records, why string, runID int64, missing, active, unidentified int) {
	tenant := l.cfg.TenantID
	if why == withheldUnidentified {
		l.cfg.Logger.Warn("deletions withheld: the listing had records without a usable id, and any missing "+strings.TrimSuffix(records, "s")+" may be one of them",
			"tenant", tenant, "run_id", runID, "missing", missing, "unidentified", unidentified,
			"hint", "see the \""+rejectedLine[records]+"\" lines; deletions resume with the first listing whose records all have an id")
		return
	}
	l.cfg.Logger.Warn("deletions withheld: this sync would mark too many "+records+" deleted",
		"tenant", tenant, "run_id", runID, "missing", missing, "active", active,
		"max_fraction", l.cfg.MaxDeletedFraction, "max_count", l.cfg.MaxDeletedCount,
		"hint", "if the tenant really lost these "+records+", run one sync with --allow-mass-deletion")
}
