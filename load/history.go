package load

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agentsync/agentsync/scanagent"
)

// maxTargetSessions bounds the sessions whose targets one history sync
// reads (newest first); the next sync reads the rest. At the default 25
// ids a request, that is 80 requests of the tenant's 1,500 an hour.
const maxTargetSessions = 2000

// SyncHistory reads the scan history of the tenant's known definitions
// from src and applies it in one transaction, with the guarantees of Sync:
// its own run (resource history) under the tenant's lease, nothing changed by a failed
// fetch. The known definitions are those stored and listed, and those
// deleted since the history's lower bound. Every history sync reads
// Config.HistoryLookback back from its fetch time: a session may reach the
// history long after it ran (a scanner that uploads late, a backlog in the
// service), and any session listed within the lookback that is not stored
// yet is stored.
//
// Sessions are facts: a session already stored with the same values is
// not written again, and the targets of a session are read (by session
// id) and stored once. A session that the history names at the time of a
// latestScan recorded without an id completes that row rather than adding
// one.
func (l *Loader) SyncHistory(ctx context.Context, src scanagent.HistorySource) (Result, error) {
	return l.alone(ctx, scanagent.History, time.Time{}, func(ctx context.Context, h *Hold) (Result, error) {
		return h.SyncHistory(ctx, src)
	})
}

// SyncHistory is Loader.SyncHistory under the lease h holds.
func (h *Hold) SyncHistory(ctx context.Context, src scanagent.HistorySource) (Result, error) {
	return h.syncResource(ctx, scanagent.History, nil, func(ctx, dbCtx context.Context, conn *pgx.Conn, runID int64) (Result, error) {
		return h.l.applyHistory(ctx, dbCtx, conn, runID, src)
	})
}

// sessionColumns are the columns COPY fills in a session staging table.
// A session makes one row with ordinal -1, then one row per target.
var sessionColumns = []string{
	"seq", "ordinal", "definition_id", "session_id", "scanner_id", "status", "scanned_at", "targets",
	"succeeded_targets", "general_error", "extra", "targets_reported",
	"ip", "hostname", "description", "target_status", "error_message", "duration", "target_extra",
	"fingerprint",
}

// sessionRows converts a session to staging rows: the session, then its
// targets. A session with neither an id nor a time cannot be told from
// another: it makes no row, and unknown counts it. With settled (a
// reading by definition), a settled session makes no row either, and
// the others carry their fingerprint.
func sessionRows(unknown *int, settled *settledSessions) func(seq int64, s scanagent.ScanSession) ([][]any, error) {
	return func(seq int64, s scanagent.ScanSession) ([][]any, error) {
		if s.DefinitionID == "" {
			return nil, fmt.Errorf("record %d: session without definition id", seq)
		}
		if s.SessionID == "" && s.ScannedAt.IsZero() {
			*unknown++
			return nil, nil
		}
		var fingerprint any
		if settled != nil {
			fp, skip := settled.settle(&s)
			if skip {
				return nil, nil
			}
			if s.SessionID == "" {
				settled.unidentified++
			}
			fingerprint = fp[:]
		}
		what := func() string { return "session " + quoteID(s.SessionID) + " of definition " + quoteID(s.DefinitionID) }
		if err := checkTexts(what, [2]string{"definition_id", s.DefinitionID}, [2]string{"session_id", s.SessionID},
			[2]string{"scanner_id", s.ScannerID}, [2]string{"status", s.Status}, [2]string{"general_error", s.GeneralError}); err != nil {
			return nil, err
		}
		extra, err := extraJSON(what, s.Extra)
		if err != nil {
			return nil, err
		}
		rows := make([][]any, 0, 1+len(s.ScannedTargets))
		rows = append(rows, []any{
			seq, -1, s.DefinitionID, nullText(s.SessionID), nullText(s.ScannerID), nullText(s.Status), nullTime(s.ScannedAt),
			nullInt(s.Targets), nullInt(s.SucceededTargets), nullText(s.GeneralError), extra, s.TargetsReported,
			nil, nil, nil, nil, nil, nil, nil, fingerprint,
		})
		for i, t := range s.ScannedTargets {
			target := func() string { return fmt.Sprintf("%s, target %d", what(), i) }
			if err := checkTexts(target, [2]string{"ip", t.IP}, [2]string{"hostname", t.Hostname},
				[2]string{"description", t.Description}, [2]string{"status", t.Status}, [2]string{"error_message", t.ErrorMessage}); err != nil {
				return nil, err
			}
			textra, err := extraJSON(target, t.Extra)
			if err != nil {
				return nil, err
			}
			rows = append(rows, []any{
				seq, i, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil,
				nullText(t.IP), nullText(t.Hostname), nullText(t.Description), nullText(t.Status), nullText(t.ErrorMessage),
				nullDuration(t.Duration), textra, nil,
			})
		}
		return rows, nil
	}
}

// sessionCounts are what applying the staged readings of sessions did:
// the sessions the history by definition listed, the new ones and the
// known ones changed among them, the sessions the reading by id returned,
// and the targets stored.
type sessionCounts struct {
	seen, inserted, changed, byID, targets int
}

// historyWorkTables are the temporary tables of a history sync, created
// once per connection and emptied before each commit (as the agents'
// workTables): creating and dropping them at each sync cost more than the
// rest of an hourly sync of a small tenant.
//
//   - agentsync_work_sessions: a reading of the history, as COPY streams it in;
//   - agentsync_work_sessions_diff: the staged sessions compared with the stored ones;
//   - agentsync_work_sessions_diff_ready: the sessions whose targets to store;
//   - agentsync_work_targets_stored: the sessions whose targets the sync stored.
var historyWorkTables = []string{
	query("history_staging"),
	query("history_create_diff"),
	query("history_create_ready"),
	query("history_create_targets_stored"),
}

// historyWorkTablesEnd ends a history sync's use of its work tables.
var historyWorkTablesEnd = workTablesEnd{query("history_empty_work_tables"), query("history_truncate_work_tables")}

var historyWorkTableNames = []string{
	"agentsync_work_sessions", "agentsync_work_sessions_diff", "agentsync_work_sessions_diff_ready", "agentsync_work_targets_stored",
}

// analyzeAbove is the number of sessions of a reading (or of targets
// stored) above which its work tables are analyzed before they are joined
// to the storage tables, as every reading used to be: the estimate from
// their pages (see analyzeOnce) is good enough for the new session or
// two of an hourly sync, and ANALYZE of the hundreds of a first sync
// costs a millisecond, less than a plan made for a wrong size.
const analyzeAbove = 50

// applyHistory runs the data transaction of one history sync. Its
// statements go in a few round trips, and those with nothing to do are
// not sent: an hourly sync of a small tenant stages a new session or two,
// reads their targets, and applies the two readings at once.
func (l *Loader) applyHistory(ctx, dbCtx context.Context, conn *pgx.Conn, runID int64, src scanagent.HistorySource) (Result, error) {
	var res Result
	fetchedAt := l.cfg.Now().UTC().Truncate(time.Microsecond)
	res.FetchedAt = fetchedAt
	since := fetchedAt.Add(-l.cfg.HistoryLookback)
	tenant := l.cfg.TenantID

	// The known definitions, and the settled sessions of the history
	// since the bound (see settledSessions), in the round trip that begins
	// the transaction and sets it up.
	var prepare batch
	prepare.beginSync(historyWorkTables)
	var unanalyzed, definitions []string
	prepare.queryRow(step{"find work tables never analyzed", query("work_tables_unanalyzed"), []any{historyWorkTableNames}}, &unanalyzed)
	var latest *time.Time
	prepare.queryRow(step{"read latest run", query("runs_latest_fetch"), []any{tenant, string(scanagent.History)}}, &latest)
	prepare.queryRow(step{"read known definitions", query("history_read_definitions"), []any{tenant, since}}, &definitions)
	settled := newSettledSessions()
	prepare.query(step{"read settled sessions", query("history_settled"), []any{tenant, since}}, settled.scanDest(), settled.add)
	// The sessions whose targets are still to read, newest first: found
	// again below (with the new ones) when the listing stages sessions.
	var pending []string
	prepare.queryRow(step{"find sessions without targets", query("history_pending_targets"), []any{tenant, maxTargetSessions + 1}}, &pending)
	tx, err := prepare.sendBegin(dbCtx, conn, l.cfg.Logger, "prepare the transaction")
	if tx != nil {
		defer func() { _ = tx.Rollback(context.WithoutCancel(dbCtx)) }()
	}
	if err != nil {
		return res, err
	}
	previous, err := checkLatestFetch(scanagent.History, fetchedAt, latest)
	if err != nil {
		return res, err
	}
	if err := analyzeOnce(dbCtx, tx, unanalyzed, query("analyze_history_work_tables")); err != nil {
		return res, err
	}
	if len(definitions) == 0 {
		l.cfg.Logger.Warn("no scan definitions stored: the history sync reads nothing (sync the definitions resource first)",
			"tenant", tenant, "run_id", runID)
	}

	// The history of the known definitions since the bound, less the
	// settled sessions. Its records are numbered up to lastListed; a
	// reading by id stages after them.
	unknown := 0
	byDefinition := func(ctx context.Context, fn func(scanagent.ScanSession) error) (scanagent.ListStats, error) {
		return src.SessionsByDefinition(ctx, definitions, since, fn)
	}
	listedRows := sessionRows(&unknown, settled)
	var lastListed int64
	stats, err := copyInto(ctx, dbCtx, tx, "agentsync_work_sessions", sessionColumns,
		listing[scanagent.ScanSession](byDefinition), func(seq int64, s scanagent.ScanSession) ([][]any, error) {
			lastListed = seq
			return listedRows(seq, s)
		}, &res.FetchDuration)
	res.Rejected, res.APIRequests, res.Duplicates = stats.Rejected, stats.Requests, stats.Duplicates
	res.FieldsRepaired = stats.FieldsRepaired
	// One line about the repairs of both readings.
	defer func() { stats.LogRepairs(l.cfg.Logger, "scan history", "tenant", tenant, "run_id", runID) }()
	if err != nil {
		return res, err
	}
	l.cfg.Logger.Debug("settled sessions left out of the comparison", "run_id", runID,
		"sessions", settled.skipped, "staged", len(settled.staged))

	// The sessions whose targets to read by id: those the transaction's
	// first round trip found stored without them, and the new sessions
	// of the listing, read before anything is applied so that a new
	// session is written once, with its targets. A listing of settled
	// sessions alone adds none.
	staged := len(settled.staged) + settled.unidentified
	if staged > 0 {
		var find batch
		find.queryRow(step{"find sessions to read by id", query("history_ids_to_read"), []any{tenant, maxTargetSessions + 1}}, &pending)
		if err := find.send(dbCtx, tx, l.cfg.Logger, "find the sessions to read by id"); err != nil {
			return res, err
		}
	}
	if len(pending) > maxTargetSessions {
		pending = pending[:maxTargetSessions]
		l.cfg.Logger.Info("more sessions lack their targets than one sync reads; the next sync reads the rest",
			"tenant", tenant, "run_id", runID, "read_now", maxTargetSessions)
	}
	var apply batch
	stagedByID := 0
	if len(pending) > 0 {
		if err := stopped(ctx); err != nil {
			return res, err
		}
		byID := func(ctx context.Context, fn func(scanagent.ScanSession) error) (scanagent.ListStats, error) {
			return src.SessionsByID(ctx, pending, fn)
		}
		byIDRows := sessionRows(&unknown, nil)
		afterListed := func(seq int64, s scanagent.ScanSession) ([][]any, error) {
			rows, err := byIDRows(lastListed+seq, s)
			if len(rows) > 0 {
				stagedByID++
			}
			return rows, err
		}
		st, err := copyInto(ctx, dbCtx, tx, "agentsync_work_sessions", sessionColumns,
			listing[scanagent.ScanSession](byID), afterListed, &res.FetchDuration)
		res.Rejected += st.Rejected
		res.APIRequests += st.Requests
		stats.AddRepairs(st)
		res.FieldsRepaired = stats.FieldsRepaired
		if err != nil {
			return res, err
		}
		if staged+stagedByID > analyzeAbove {
			apply.exec(analyzeWorkTable("agentsync_work_sessions", query("analyze_sessions_staged")), nil)
		}
		// Only the sessions asked for: an answer never adds a session.
		apply.exec(step{"keep the sessions asked for", query("history_keep_asked"), []any{pending, lastListed}}, nil)
		if staged > 0 {
			apply.exec(step{"merge the two readings", query("history_merge_readings"), []any{lastListed}}, nil)
		}
	}
	var counts sessionCounts
	if staged+stagedByID > 0 {
		// A reading by id may repeat a session: the comparison keeps its
		// last record.
		l.queueApplySessions(&apply, runID, fetchedAt, staged+stagedByID, settled.repeated() || stagedByID > 0, lastListed, &counts)
	}
	if err := apply.send(dbCtx, tx, l.cfg.Logger, "apply the sessions read"); err != nil {
		return res, err
	}
	res.Seen, res.Inserted, res.Changed, res.Targets = counts.seen+settled.skipped, counts.inserted, counts.changed, counts.targets
	res.Unchanged = res.Seen - res.Inserted - res.Changed
	if missing := len(pending) - counts.byID; missing > 0 {
		l.cfg.Logger.Info("sessions not returned by id; their targets are read again at the next sync",
			"tenant", tenant, "run_id", runID, "sessions", missing)
	}
	if unknown > 0 {
		res.Rejected += unknown
		l.cfg.Logger.Warn("sessions without an id or a time were skipped: they cannot be told apart",
			"tenant", tenant, "run_id", runID, "sessions", unknown)
	}
	var finish batch
	if res.Targets > 0 {
		if res.Targets > analyzeAbove {
			finish.exec(analyzeWorkTable("agentsync_work_targets_stored", query("analyze_targets_stored")), nil)
		}
		finish.exec(coverTargets(tenant), nil)
	}
	if res.Targets > 0 || res.Inserted > 0 || res.Changed > 0 {
		finish.exec(l.runTargetStatusStep(tenant, runID), nil)
	}
	finish.exec(coverStep(tenant, runID), nil)
	finish.exec(l.finishRunStep(runID, res, previous), nil)
	finish.exec(digestStep(runID), nil)
	finish.exec(historyWorkTablesEnd.step(runID, staged+res.Targets), nil)
	if err := finish.send(dbCtx, tx, l.cfg.Logger, "record the targets' coverage and the run"); err != nil {
		return res, err
	}
	if err := stopped(ctx); err != nil {
		return res, err
	}
	if err := tx.Commit(dbCtx); err != nil {
		return res, fmt.Errorf("commit: %w", interpretError(err))
	}
	return res, nil
}

// analyzeWorkTable gathers the statistics of a temporary table of a sync
// that holds a large reading (see analyzeOnce and analyzeAbove).
func analyzeWorkTable(table, statement string) step {
	return step{"analyze " + table, statement, nil}
}

// queueApplySessions queues on b the statements that apply the staged
// readings of sessions (pg_temp.agentsync_work_sessions: the listing's
// records, numbered up to lastListed, merged with those of the reading by
// id), staged sessions in all: the last record of a session counts (when
// the readings may repeat one); new sessions are inserted, known ones
// written only when the readings complete or correct them, and the
// targets of sessions that have none stored yet are stored. What they did
// goes to *c when b is sent.
func (l *Loader) queueApplySessions(b *batch, runID int64, fetchedAt time.Time, staged int, mayRepeat bool, lastListed int64, c *sessionCounts) {
	tenant := l.cfg.TenantID
	large := staged > analyzeAbove
	if mayRepeat {
		b.exec(step{"remove repeated sessions", query("history_remove_repeated"), nil}, nil)
	}
	b.exec(step{"compare with stored sessions", query("history_compare"), []any{tenant}}, nil)
	if large {
		b.exec(analyzeWorkTable("agentsync_work_sessions_diff", query("analyze_sessions_diff")), nil)
	}
	b.queryRow(step{"count sessions", query("history_count"), []any{lastListed}}, &c.seen, &c.inserted, &c.changed, &c.byID)
	b.exec(step{"insert new sessions", query("history_insert_new"), []any{tenant, fetchedAt, runID}}, nil)
	b.exec(step{"complete stored sessions", query("history_complete_stored"), []any{fetchedAt, runID}}, nil)
	// What the history by definition said of a session, for the next
	// syncs to leave it out while it says the same: written once per
	// session, then only when the listing differs.
	b.exec(step{"store listed fingerprints", query("history_store_fingerprints"), nil}, nil)
	b.exec(step{"choose sessions whose targets to store", query("history_choose_ready"), nil}, nil)
	if large {
		b.exec(analyzeWorkTable("agentsync_work_sessions_diff_ready", query("analyze_sessions_diff_ready")), nil)
	}
	storeTargets := step{"store targets", query("history_store_targets"), []any{tenant}}
	if l.cfg.schemaBefore(39) { // 00039_targets_stored_once.sql
		storeTargets = step{"store targets", query("history_store_target_rows"), nil}
	} else {
		b.exec(step{"add new targets", query("history_add_targets"), []any{tenant}}, nil)
	}
	b.exec(storeTargets, func(tag pgconn.CommandTag) {
		c.targets = int(tag.RowsAffected())
	})
	b.exec(step{"mark sessions whose targets are stored", query("history_mark_targets_stored"), []any{runID}}, nil)
}

// coverTargets brings target_coverage up to date with the targets this
// sync stored: per target and definition, the latest scan and the last
// successful one. Rows that the new targets do not move are not written.
func coverTargets(tenant string) step {
	return step{"update target coverage", query("history_cover_targets"), []any{tenant}}
}
