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

const sessionStaging = `
	CREATE TEMPORARY TABLE %s (
		seq               bigint  NOT NULL,
		ordinal           integer NOT NULL,
		definition_id     text,
		session_id        text,
		scanner_id        text,
		status            text,
		scanned_at        timestamptz,
		targets           integer,
		succeeded_targets integer,
		general_error     text,
		extra             jsonb,
		targets_reported  boolean,
		ip                text,
		hostname          text,
		description       text,
		target_status     text,
		error_message     text,
		duration          interval,
		target_extra      jsonb,
		fingerprint       bytea
	) ON COMMIT DROP`

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
	if _, err := tx.Exec(dbCtx, `SELECT pg_catalog.set_config('work_mem', $1, true), pg_catalog.set_config('jit', 'off', true)`,
		workMem); err != nil {
		return res, fmt.Errorf("configure the transaction: %w", interpretError(err))
	}

	var definitions []string
	if err := tx.QueryRow(dbCtx, `
		SELECT coalesce(pg_catalog.array_agg(definition_id ORDER BY definition_id), '{}')
		  FROM defender.definition_state
		 WHERE tenant_id = $1 AND (deleted_at IS NULL OR deleted_at > $2)`, tenant, since).Scan(&definitions); err != nil {
		return res, fmt.Errorf("read known definitions: %w", interpretError(err))
	}
	if len(definitions) == 0 {
		l.cfg.Logger.Warn("no scan definitions stored: the history sync reads nothing (sync the definitions resource first)",
			"tenant", tenant, "run_id", runID)
	}
	if _, err := tx.Exec(dbCtx, `CREATE TEMPORARY TABLE agentsync_targets_stored (session_key bigint PRIMARY KEY) ON COMMIT DROP`); err != nil {
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
	stats, err := copyListing(ctx, dbCtx, tx, "agentsync_sessions", fmt.Sprintf(sessionStaging, "agentsync_sessions"), sessionColumns,
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
		if counts, err = l.applySessions(ctx, dbCtx, tx, "agentsync_sessions", runID, fetchedAt); err != nil {
			return res, err
		}
	}
	res.Seen, res.Inserted, res.Changed, res.Targets = counts.seen+settled.skipped, counts.inserted, counts.changed, counts.targets
	res.Unchanged = res.Seen - res.Inserted - res.Changed

	// The targets of the sessions that have none stored yet, newest first.
	var pending []string
	if err := tx.QueryRow(dbCtx, `
		SELECT coalesce(pg_catalog.array_agg(session_id), '{}') FROM (
			SELECT session_id FROM defender.session_result
			 WHERE tenant_id = $1 AND session_id IS NOT NULL AND targets_run_id IS NULL
			 ORDER BY scanned_at DESC NULLS LAST, session_key DESC
			 LIMIT $2) p`, tenant, maxTargetSessions+1).Scan(&pending); err != nil {
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
		st, err := copyListing(ctx, dbCtx, tx, "agentsync_session_targets", fmt.Sprintf(sessionStaging, "agentsync_session_targets"),
			sessionColumns, listing[scanagent.ScanSession](byID), sessionRows(&unknown, nil), &res.FetchDuration)
		res.Rejected += st.Rejected
		res.APIRequests += st.Requests
		stats.AddRepairs(st)
		res.FieldsRepaired = stats.FieldsRepaired
		if err != nil {
			return res, err
		}
		// Only the sessions asked for: an answer never adds a session.
		if _, err := tx.Exec(dbCtx, `
			DELETE FROM pg_temp.agentsync_session_targets
			 WHERE seq IN (SELECT seq FROM pg_temp.agentsync_session_targets
			                WHERE ordinal = -1 AND (session_id IS NULL OR NOT session_id = ANY ($1)))`, pending); err != nil {
			return res, fmt.Errorf("keep the sessions asked for: %w", interpretError(err))
		}
		byIDCounts, err := l.applySessions(ctx, dbCtx, tx, "agentsync_session_targets", runID, fetchedAt)
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
	if err := exec(ctx, dbCtx, tx, l.cfg.Logger, []step{analyzeWorkTable("agentsync_targets_stored"), coverTargets(tenant)}); err != nil {
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
func analyzeWorkTable(table string) step {
	return step{"analyze " + table, "ANALYZE pg_temp." + table, nil}
}

// sessionMerge is the stored session completed by a staged one: what the
// history sent wins, what it did not send is kept. The scanner agent is
// the agent whose machine id (or id) is the scanner the history named,
// else the one already stored, else the definition's.
const sessionMerge = `
	WITH staged AS (
		SELECT s.*, sc.agent_id AS resolved_agent_id
		  FROM pg_temp.%[1]s s
		  LEFT JOIN (SELECT DISTINCT ON (x.scanner_id) x.scanner_id, a.agent_id
		               FROM (SELECT DISTINCT scanner_id FROM pg_temp.%[1]s WHERE ordinal = -1 AND scanner_id IS NOT NULL) x
		               JOIN defender.agent_state a
		                 ON a.tenant_id = $1 AND (a.machine_id = x.scanner_id OR a.agent_id = x.scanner_id)
		              ORDER BY x.scanner_id, a.deleted_at IS NULL DESC, a.agent_key DESC) sc
		    ON sc.scanner_id = s.scanner_id
		 WHERE s.ordinal = -1
	), merged AS (
		SELECT st.seq, st.targets_reported, st.fingerprint, m.session_key, m.source AS stored_source,
		       coalesce(m.definition_id, st.definition_id) AS definition_id,
		       coalesce(st.session_id, m.session_id) AS session_id,
		       coalesce(st.scanner_id, m.scanner_id) AS scanner_id,
		       coalesce(st.resolved_agent_id, m.scanner_agent_id, d.scanner_agent_id) AS scanner_agent_id,
		       coalesce(st.status, m.status) AS status,
		       coalesce(st.scanned_at, m.scanned_at) AS scanned_at,
		       coalesce(st.targets, m.targets) AS targets,
		       coalesce(st.succeeded_targets, m.succeeded_targets) AS succeeded_targets,
		       coalesce(st.general_error, m.general_error) AS general_error,
		       coalesce(m.extra, '{}') || st.extra AS extra,
		       m.session_id AS stored_session_id, m.scanner_id AS stored_scanner_id,
		       m.scanner_agent_id AS stored_scanner_agent_id, m.status AS stored_status,
		       m.scanned_at AS stored_scanned_at, m.targets AS stored_targets,
		       m.succeeded_targets AS stored_succeeded_targets, m.general_error AS stored_general_error,
		       m.extra AS stored_extra
		  FROM staged st
		  -- The stored session: by its id, else by definition and time when
		  -- one of the two has no id (a latestScan, or a history without
		  -- ids).
		  LEFT JOIN LATERAL (SELECT r.* FROM defender.session_result r
		                      WHERE r.tenant_id = $1
		                        AND ((st.session_id IS NOT NULL AND r.session_id = st.session_id)
		                          OR (r.definition_id = st.definition_id AND r.scanned_at = st.scanned_at
		                              AND (r.session_id IS NULL OR st.session_id IS NULL)))
		                      ORDER BY r.session_id IS NOT DISTINCT FROM st.session_id DESC, r.session_key
		                      LIMIT 1) m ON true
		  LEFT JOIN defender.definition_state d ON d.tenant_id = $1 AND d.definition_id = st.definition_id
	)
	SELECT m.seq, m.targets_reported, m.fingerprint, m.session_key, m.definition_id, m.session_id, m.scanner_id, m.scanner_agent_id,
	       m.status, m.scanned_at, m.targets, m.succeeded_targets, m.general_error, m.extra,
	       m.session_key IS NOT NULL
	       AND (m.session_id, m.scanner_id, m.scanner_agent_id, m.status, m.scanned_at, m.targets,
	            m.succeeded_targets, m.general_error, m.extra, 'history'::text)
	           IS DISTINCT FROM
	           (m.stored_session_id, m.stored_scanner_id, m.stored_scanner_agent_id, m.stored_status, m.stored_scanned_at,
	            m.stored_targets, m.stored_succeeded_targets, m.stored_general_error, m.stored_extra, m.stored_source) AS changed,
	       false AS inserted
	  FROM merged m`

// applySessions applies one staged reading of sessions (table): the last
// record of a session counts; new sessions are inserted, known ones
// written only when the reading completes or corrects them, and the
// targets of sessions that have none stored yet are stored.
func (l *Loader) applySessions(ctx, dbCtx context.Context, tx pgx.Tx, table string, runID int64, fetchedAt time.Time) (sessionCounts, error) {
	var c sessionCounts
	tenant := l.cfg.TenantID
	diff := table + "_diff"
	steps := []step{
		{"remove repeated sessions", fmt.Sprintf(`
			DELETE FROM pg_temp.%[1]s
			 WHERE seq NOT IN (SELECT DISTINCT ON (coalesce(session_id, definition_id || ' ' || scanned_at::text)) seq
			                     FROM pg_temp.%[1]s WHERE ordinal = -1
			                    ORDER BY coalesce(session_id, definition_id || ' ' || scanned_at::text), seq DESC)`, table), nil},
		{"compare with stored sessions", fmt.Sprintf(`CREATE TEMPORARY TABLE %s ON COMMIT DROP AS `, diff) +
			fmt.Sprintf(sessionMerge, table), []any{tenant}},
		analyzeWorkTable(diff),
	}
	if err := exec(ctx, dbCtx, tx, l.cfg.Logger, steps); err != nil {
		return c, err
	}
	if err := tx.QueryRow(dbCtx, fmt.Sprintf(`
		SELECT count(*), count(*) FILTER (WHERE session_key IS NULL), count(*) FILTER (WHERE changed)
		  FROM pg_temp.%s`, diff)).Scan(&c.seen, &c.inserted, &c.changed); err != nil {
		return c, fmt.Errorf("count sessions: %w", interpretError(err))
	}
	columns := `definition_id, session_id, scanner_id, scanner_agent_id, status, scanned_at, targets, succeeded_targets, general_error, extra`
	steps = []step{
		{"insert new sessions", fmt.Sprintf(`
			WITH inserted AS (
				INSERT INTO defender.session_result (tenant_id, %[2]s, source, recorded_at, recorded_by_run_id, listed_fingerprint)
				SELECT $1, %[2]s, 'history', $2, $3, fingerprint
				  FROM pg_temp.%[1]s WHERE session_key IS NULL
				RETURNING session_key, definition_id, session_id, scanned_at
			)
			-- A staged session is known by its id, else by its definition
			-- and time: one key, so that the match is a hash join.
			UPDATE pg_temp.%[1]s d
			   SET session_key = i.session_key, inserted = true
			  FROM inserted i
			 WHERE d.session_key IS NULL
			   AND coalesce(d.session_id, d.definition_id || ' ' || d.scanned_at::text)
			     = coalesce(i.session_id, i.definition_id || ' ' || i.scanned_at::text)`,
			diff, columns), []any{tenant, fetchedAt, runID}},
		{"complete stored sessions", fmt.Sprintf(`
			UPDATE defender.session_result r
			   SET (%[2]s) = (d.definition_id, d.session_id, d.scanner_id, d.scanner_agent_id, d.status, d.scanned_at,
			                  d.targets, d.succeeded_targets, d.general_error, d.extra),
			       source = 'history', updated_at = $1, updated_by_run_id = $2
			  FROM pg_temp.%[1]s d
			 WHERE r.session_key = d.session_key AND d.changed`, diff, columns), []any{fetchedAt, runID}},
		// What the history by definition said of a session, for the next
		// syncs to leave it out while it says the same: written once per
		// session, then only when the listing differs.
		{"store listed fingerprints", fmt.Sprintf(`
			UPDATE defender.session_result r SET listed_fingerprint = d.fingerprint
			  FROM pg_temp.%[1]s d
			 WHERE r.session_key = d.session_key AND d.fingerprint IS NOT NULL
			   AND r.listed_fingerprint IS DISTINCT FROM d.fingerprint`, diff), nil},
		{"choose sessions whose targets to store", fmt.Sprintf(`
			CREATE TEMPORARY TABLE %[1]s_ready ON COMMIT DROP AS
			SELECT DISTINCT ON (d.session_key) d.session_key, d.seq
			  FROM pg_temp.%[1]s d
			  JOIN defender.session_result r ON r.session_key = d.session_key
			 WHERE d.targets_reported AND r.targets_run_id IS NULL
			 ORDER BY d.session_key, d.seq DESC`, diff), nil},
		analyzeWorkTable(diff + "_ready"),
	}
	if err := exec(ctx, dbCtx, tx, l.cfg.Logger, steps); err != nil {
		return c, err
	}
	tag, err := tx.Exec(dbCtx, fmt.Sprintf(`
		INSERT INTO defender.target_result (session_key, ordinal, ip, hostname, description, status, error_message, duration, extra)
		SELECT r.session_key, t.ordinal, t.ip, t.hostname, t.description, t.target_status, t.error_message, t.duration,
		       coalesce(t.target_extra, '{}')
		  FROM pg_temp.%[1]s_ready r
		  JOIN pg_temp.%[2]s t ON t.seq = r.seq AND t.ordinal >= 0`, diff, table))
	if err != nil {
		return c, fmt.Errorf("store targets: %w", interpretError(err))
	}
	c.targets = int(tag.RowsAffected())
	steps = []step{
		{"mark sessions whose targets are stored", fmt.Sprintf(`
			WITH marked AS (
				UPDATE defender.session_result s SET targets_run_id = $1
				  FROM pg_temp.%[1]s_ready r WHERE s.session_key = r.session_key
				RETURNING s.session_key
			)
			INSERT INTO pg_temp.agentsync_targets_stored SELECT session_key FROM marked ON CONFLICT DO NOTHING`, diff), []any{runID}},
	}
	return c, exec(ctx, dbCtx, tx, l.cfg.Logger, steps)
}

// Conditions of the coverage upsert: the new latest scan is later than
// the stored one (a session without time is the oldest), and the new
// last success is later than the stored one.
const (
	coverageNewer = `((coalesce(excluded.latest_scanned_at, '-infinity'), excluded.latest_session_key)
		> (coalesce(c.latest_scanned_at, '-infinity'), c.latest_session_key))`
	coverageSucceeded = `(excluded.last_success_session_key IS NOT NULL
		AND coalesce(excluded.last_success_at, '-infinity') > coalesce(c.last_success_at, '-infinity'))`
)

// coverTargets brings target_coverage up to date with the targets this
// sync stored: per target and definition, the latest scan and the last
// successful one. Rows that the new targets do not move are not written.
func coverTargets(tenant string) step {
	return step{"update target coverage", `
		WITH new AS (
			SELECT coalesce(nullif(t.ip, ''), pg_catalog.lower(nullif(t.hostname, ''))) AS target,
			       s.definition_id, s.session_key, t.ordinal, s.scanned_at,
			       defender.scan_outcome(t.status) = 'success' AS ok
			  FROM pg_temp.agentsync_targets_stored n
			  JOIN defender.session_result s ON s.session_key = n.session_key
			  JOIN defender.target_result t ON t.session_key = n.session_key
		), latest AS (
			SELECT DISTINCT ON (target, definition_id) target, definition_id, session_key, ordinal, scanned_at
			  FROM new WHERE target IS NOT NULL
			 ORDER BY target, definition_id, scanned_at DESC NULLS LAST, session_key DESC, ordinal
		), success AS (
			SELECT DISTINCT ON (target, definition_id) target, definition_id, session_key, scanned_at
			  FROM new WHERE target IS NOT NULL AND ok
			 ORDER BY target, definition_id, scanned_at DESC NULLS LAST, session_key DESC
		)
		INSERT INTO defender.target_coverage AS c
		       (tenant_id, target, definition_id, latest_session_key, latest_ordinal, latest_scanned_at,
		        last_success_at, last_success_session_key)
		SELECT $1, l.target, l.definition_id, l.session_key, l.ordinal, l.scanned_at, s.scanned_at, s.session_key
		  FROM latest l
		  LEFT JOIN success s ON s.target = l.target AND s.definition_id = l.definition_id
		ON CONFLICT (tenant_id, target, definition_id) DO UPDATE
		   SET latest_session_key = CASE WHEN ` + coverageNewer + ` THEN excluded.latest_session_key ELSE c.latest_session_key END,
		       latest_ordinal = CASE WHEN ` + coverageNewer + ` THEN excluded.latest_ordinal ELSE c.latest_ordinal END,
		       latest_scanned_at = CASE WHEN ` + coverageNewer + ` THEN excluded.latest_scanned_at ELSE c.latest_scanned_at END,
		       last_success_at = CASE WHEN ` + coverageSucceeded + ` THEN excluded.last_success_at ELSE c.last_success_at END,
		       last_success_session_key = CASE WHEN ` + coverageSucceeded + `
		                                       THEN excluded.last_success_session_key ELSE c.last_success_session_key END
		 WHERE ` + coverageNewer + ` OR ` + coverageSucceeded, []any{tenant}}
}
