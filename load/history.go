package load

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
	return l.syncResource(ctx, scanagent.History, time.Time{}, func(ctx, dbCtx context.Context, conn *pgx.Conn, runID int64) (Result, error) {
		return l.applyHistory(ctx, dbCtx, conn, runID, src)
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

// sessionCounts are what applying one staged reading of sessions did.
type sessionCounts struct {
	seen, inserted, changed, targets int
}

// applyHistory runs the data transaction of one history sync.
func (l *Loader) applyHistory(ctx, dbCtx context.Context, conn *pgx.Conn, runID int64, src scanagent.HistorySource) (Result, error) {
	var res Result
	fetchedAt := l.cfg.Now().UTC().Truncate(time.Microsecond)
	res.FetchedAt = fetchedAt
	previous, err := l.latestFetch(dbCtx, conn, scanagent.History, fetchedAt)
	if err != nil {
		return res, err
	}
	since := fetchedAt.Add(-l.cfg.HistoryLookback)
	tenant := l.cfg.TenantID

	tx, err := conn.BeginTx(dbCtx, writerTx)
	if err != nil {
		return res, fmt.Errorf("begin: %w", interpretError(err))
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(dbCtx)) }()
	if _, err := tx.Exec(dbCtx, query("sync_configure"), workMem); err != nil {
		return res, fmt.Errorf("configure the transaction: %w", interpretError(err))
	}

	var definitions []string
	if err := tx.QueryRow(dbCtx, query("history_read_definitions"), tenant, since).Scan(&definitions); err != nil {
		return res, fmt.Errorf("read known definitions: %w", interpretError(err))
	}
	if len(definitions) == 0 {
		l.cfg.Logger.Warn("no scan definitions stored: the history sync reads nothing (sync the definitions resource first)",
			"tenant", tenant, "run_id", runID)
	}
	if _, err := tx.Exec(dbCtx, query("history_create_targets_stored")); err != nil {
		return res, fmt.Errorf("create agentsync_targets_stored: %w", interpretError(err))
	}

	// The history of the known definitions since the bound, less the
	// settled sessions.
	settled, err := readSettledSessions(dbCtx, tx, tenant, definitions, since)
	if err != nil {
		return res, err
	}
	unknown := 0
	byDefinition := func(ctx context.Context, fn func(scanagent.ScanSession) error) (scanagent.ListStats, error) {
		return src.SessionsByDefinition(ctx, definitions, since, fn)
	}
	stats, err := copyListing(ctx, dbCtx, tx, "agentsync_sessions", query("history_staging"), sessionColumns,
		listing[scanagent.ScanSession](byDefinition), sessionRows(&unknown, settled), &res.FetchDuration)
	res.Rejected, res.APIRequests, res.Duplicates = stats.Rejected, stats.Requests, stats.Duplicates
	res.FieldsRepaired = stats.FieldsRepaired
	// One line about the repairs of both readings.
	defer func() { stats.LogRepairs(l.cfg.Logger, "scan history", "tenant", tenant, "run_id", runID) }()
	if err != nil {
		return res, err
	}
	l.cfg.Logger.Debug("settled sessions left out of the comparison", "run_id", runID,
		"sessions", settled.skipped, "staged", len(settled.staged))
	// A listing of settled sessions alone skips the comparison, whose
	// fixed cost is several milliseconds.
	var counts sessionCounts
	if len(settled.staged) > 0 || settled.unidentified > 0 {
		if counts, err = l.applySessions(ctx, dbCtx, tx, runID, fetchedAt); err != nil {
			return res, err
		}
	}
	res.Seen, res.Inserted, res.Changed, res.Targets = counts.seen+settled.skipped, counts.inserted, counts.changed, counts.targets
	res.Unchanged = res.Seen - res.Inserted - res.Changed

	// The targets of the sessions that have none stored yet, newest first.
	var pending []string
	if err := tx.QueryRow(dbCtx, query("history_pending_targets"), tenant, maxTargetSessions+1).Scan(&pending); err != nil {
		return res, fmt.Errorf("find sessions without targets: %w", interpretError(err))
	}
	if len(pending) > maxTargetSessions {
		pending = pending[:maxTargetSessions]
		l.cfg.Logger.Info("more sessions lack their targets than one sync reads; the next sync reads the rest",
			"tenant", tenant, "run_id", runID, "read_now", maxTargetSessions)
	}
	if len(pending) > 0 {
		byID := func(ctx context.Context, fn func(scanagent.ScanSession) error) (scanagent.ListStats, error) {
			return src.SessionsByID(ctx, pending, fn)
		}
		// The reading by id stages into the same tables as the reading by
		// definition, which is applied by now.
		if _, err := tx.Exec(dbCtx, query("history_drop_reading")); err != nil {
			return res, fmt.Errorf("drop the first reading: %w", interpretError(err))
		}
		st, err := copyListing(ctx, dbCtx, tx, "agentsync_sessions", query("history_staging"),
			sessionColumns, listing[scanagent.ScanSession](byID), sessionRows(&unknown, nil), &res.FetchDuration)
		res.Rejected += st.Rejected
		res.APIRequests += st.Requests
		stats.AddRepairs(st)
		res.FieldsRepaired = stats.FieldsRepaired
		if err != nil {
			return res, err
		}
		// Only the sessions asked for: an answer never adds a session.
		if _, err := tx.Exec(dbCtx, query("history_keep_asked"), pending); err != nil {
			return res, fmt.Errorf("keep the sessions asked for: %w", interpretError(err))
		}
		byIDCounts, err := l.applySessions(ctx, dbCtx, tx, runID, fetchedAt)
		if err != nil {
			return res, err
		}
		res.Targets += byIDCounts.targets
		if missing := len(pending) - byIDCounts.seen; missing > 0 {
			l.cfg.Logger.Info("sessions not returned by id; their targets are read again at the next sync",
				"tenant", tenant, "run_id", runID, "sessions", missing)
		}
	}
	if unknown > 0 {
		res.Rejected += unknown
		l.cfg.Logger.Warn("sessions without an id or a time were skipped: they cannot be told apart",
			"tenant", tenant, "run_id", runID, "sessions", unknown)
	}
	if err := exec(ctx, dbCtx, tx, l.cfg.Logger, []step{analyzeWorkTable("agentsync_targets_stored", query("analyze_targets_stored")), coverTargets(tenant)}); err != nil {
		return res, err
	}
	if err := l.finishRun(dbCtx, tx, runID, res, previous); err != nil {
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

// analyzeWorkTable gathers the statistics of a temporary table of a sync,
// which autovacuum never does: without them the planner guesses a couple
// of thousand rows for a table of a handful, and joins it to the storage
// tables by reading them whole, every tenant's rows included, where an
// index probe per row is all it takes. The tables of the scan history are
// small (bounded by the sessions of one sync): ANALYZE reads them in well
// under a millisecond.
func analyzeWorkTable(table, statement string) step {
	return step{"analyze " + table, statement, nil}
}

// applySessions applies one staged reading of sessions
// (pg_temp.agentsync_sessions): the last record of a session counts; new
// sessions are inserted, known ones written only when the reading
// completes or corrects them, and the targets of sessions that have none
// stored yet are stored.
func (l *Loader) applySessions(ctx, dbCtx context.Context, tx pgx.Tx, runID int64, fetchedAt time.Time) (sessionCounts, error) {
	var c sessionCounts
	tenant := l.cfg.TenantID
	steps := []step{
		{"remove repeated sessions", query("history_remove_repeated"), nil},
		{"compare with stored sessions", query("history_compare"), []any{tenant}},
		analyzeWorkTable("agentsync_sessions_diff", query("analyze_sessions_diff")),
	}
	if err := exec(ctx, dbCtx, tx, l.cfg.Logger, steps); err != nil {
		return c, err
	}
	if err := tx.QueryRow(dbCtx, query("history_count")).Scan(&c.seen, &c.inserted, &c.changed); err != nil {
		return c, fmt.Errorf("count sessions: %w", interpretError(err))
	}
	steps = []step{
		{"insert new sessions", query("history_insert_new"), []any{tenant, fetchedAt, runID}},
		{"complete stored sessions", query("history_complete_stored"), []any{fetchedAt, runID}},
		// What the history by definition said of a session, for the next
		// syncs to leave it out while it says the same: written once per
		// session, then only when the listing differs.
		{"store listed fingerprints", query("history_store_fingerprints"), nil},
		{"choose sessions whose targets to store", query("history_choose_ready"), nil},
		analyzeWorkTable("agentsync_sessions_diff_ready", query("analyze_sessions_diff_ready")),
	}
	if err := exec(ctx, dbCtx, tx, l.cfg.Logger, steps); err != nil {
		return c, err
	}
	tag, err := tx.Exec(dbCtx, query("history_store_targets"))
	if err != nil {
		return c, fmt.Errorf("store targets: %w", interpretError(err))
	}
	c.targets = int(tag.RowsAffected())
	steps = []step{
		{"mark sessions whose targets are stored", query("history_mark_targets_stored"), []any{runID}},
	}
	return c, exec(ctx, dbCtx, tx, l.cfg.Logger, steps)
}

// coverTargets brings target_coverage up to date with the targets this
// sync stored: per target and definition, the latest scan and the last
// successful one. Rows that the new targets do not move are not written.
func coverTargets(tenant string) step {
	return step{"update target coverage", query("history_cover_targets"), []any{tenant}}
}
