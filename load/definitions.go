package load

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentsync/agentsync/scanagent"
)

// SyncDefinitions fetches one complete listing of scan definitions with
// list and applies it in one transaction, with the guarantees of Sync: its
// own run (resource definitions) under the tenant's lease, nothing changed by a failed
// fetch, deletions only after a complete listing (withheld like agents'),
// unchanged definitions never written. A definition's latestScan is
// recorded as a session when no stored session of the definition ran at
// that time.
func (l *Loader) SyncDefinitions(ctx context.Context, list scanagent.DefinitionListFunc) (Result, error) {
	return l.syncResource(ctx, scanagent.Definitions, time.Time{}, func(ctx, dbCtx context.Context, conn *pgx.Conn, runID int64) (Result, error) {
		return l.applyDefinitions(ctx, dbCtx, conn, runID, list)
	})
}

// definitionColumns are the columns COPY fills in pg_temp.agentsync_definitions.
var definitionColumns = []string{
	"seq", "definition_id", "scan_name", "scan_type", "is_active", "interval_hours", "target", "target_type",
	"scanner_agent_id", "auth_variant", "auth_type", "created_by", "extra",
	"latest_status", "latest_failure_reason", "latest_executed_at",
}

// definitionRow converts a definition to a staging row.
func definitionRow(seq int64, d scanagent.ScanDefinition) ([][]any, error) {
	if d.ID == "" {
		return nil, fmt.Errorf("record %d: definition without id", seq)
	}
	what := func() string { return "definition " + quoteID(d.ID) }
	var ls scanagent.LatestScan
	if d.LatestScan != nil {
		ls = *d.LatestScan
	}
	if err := checkTexts(what, [2]string{"id", d.ID}, [2]string{"scan_name", d.Name}, [2]string{"scan_type", d.ScanType},
		[2]string{"target", d.Target}, [2]string{"target_type", d.TargetType}, [2]string{"scanner_agent_id", d.ScannerAgentID},
		[2]string{"auth_variant", d.AuthVariant}, [2]string{"auth_type", d.AuthType}, [2]string{"created_by", d.CreatedBy},
		[2]string{"latest_scan.status", ls.Status}, [2]string{"latest_scan.failure_reason", ls.FailureReason}); err != nil {
		return nil, err
	}
	extra, err := extraJSON(what, d.Extra)
	if err != nil {
		return nil, err
	}
	return [][]any{{
		seq, d.ID, nullText(d.Name), nullText(d.ScanType), nullBool(d.IsActive), nullInt(d.IntervalHours),
		nullText(d.Target), nullText(d.TargetType), nullText(d.ScannerAgentID), nullText(d.AuthVariant),
		nullText(d.AuthType), nullText(d.CreatedBy), extra,
		nullText(ls.Status), nullText(ls.FailureReason), nullTime(ls.ExecutedAt),
	}}, nil
}

// definitionWorkTables are the temporary tables of a definitions sync,
// created once per connection and emptied at each commit (as the agents'
// workTables): creating and dropping four tables cost more than the rest
// of a sync of tens of definitions.
//
//   - agentsync_definitions: the listing, as COPY streams it in;
//   - agentsync_definitions_unreadable: ids listed but unreadable;
//   - agentsync_definition_diff: the definitions to write;
//   - agentsync_definitions_missing: the active definitions the listing lacks.
var definitionWorkTables = []string{
	query("definitions_staging"),
	query("definitions_create_unreadable"),
	query("definitions_create_diff"),
	query("definitions_create_missing"),
}

var definitionWorkTableNames = []string{
	"agentsync_definitions", "agentsync_definitions_unreadable", "agentsync_definition_diff", "agentsync_definitions_missing",
}

// applyDefinitions runs the data transaction of one definitions sync.
// Definitions are few (tens to hundreds a tenant): the statements keep to
// plain SQL over small temporary tables, sent a few at a time, and those
// with nothing to do (no definition new or changed, none missing, none
// repeated or unreadable) are not sent.
func (l *Loader) applyDefinitions(ctx, dbCtx context.Context, conn *pgx.Conn, runID int64, list scanagent.DefinitionListFunc) (Result, error) {
	var res Result
	fetchedAt := l.cfg.Now().UTC().Truncate(time.Microsecond)
	res.FetchedAt = fetchedAt
	previous, err := l.latestFetch(dbCtx, conn, scanagent.Definitions, fetchedAt)
	if err != nil {
		return res, err
	}
	tx, err := conn.BeginTx(dbCtx, writerTx)
	if err != nil {
		return res, fmt.Errorf("begin: %w", interpretError(err))
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(dbCtx)) }()

	var prepare batch
	prepare.exec(step{"configure the transaction", query("sync_configure"), []any{workMem}}, nil)
	for _, t := range definitionWorkTables {
		prepare.exec(step{"create the work tables", t, nil}, nil)
	}
	var unanalyzed []string
	prepare.queryRow(step{"find work tables never analyzed", query("work_tables_unanalyzed"), []any{definitionWorkTableNames}}, &unanalyzed)
	if err := prepare.send(dbCtx, tx, l.cfg.Logger, "prepare the transaction"); err != nil {
		return res, err
	}
	if err := analyzeOnce(dbCtx, tx, unanalyzed, query("analyze_definitions_work_tables")); err != nil {
		return res, err
	}

	// What the listing holds, as it streams by: whether an id repeats
	// (then the last record counts), and whether any definition names
	// its latest scan.
	seen := map[string]struct{}{}
	var repeated, latestScans bool
	rows := func(seq int64, d scanagent.ScanDefinition) ([][]any, error) {
		r, err := definitionRow(seq, d)
		if err != nil {
			return nil, err
		}
		if _, ok := seen[d.ID]; ok {
			repeated = true
		}
		seen[d.ID] = struct{}{}
		if d.LatestScan != nil && !d.LatestScan.ExecutedAt.IsZero() {
			latestScans = true
		}
		return r, nil
	}
	stats, err := copyInto(ctx, dbCtx, tx, "agentsync_definitions", definitionColumns,
		listing[scanagent.ScanDefinition](list), rows, &res.FetchDuration)
	res.Rejected, res.APIRequests, res.Duplicates = stats.Rejected, stats.Requests, stats.Duplicates
	res.FieldsRepaired = stats.FieldsRepaired
	if err != nil {
		return res, err
	}
	tenant := l.cfg.TenantID
	var compare batch
	if len(stats.RejectedIDs) > 0 {
		compare.exec(step{"record unreadable definitions", query("definitions_record_unreadable"), []any{stats.RejectedIDs}}, nil)
	}
	if repeated {
		compare.exec(step{"remove duplicate definitions", query("definitions_remove_duplicates"), nil}, nil)
	}
	compare.exec(step{"compare with stored definitions", query("definitions_compare"), []any{tenant}}, nil)
	var active, matchedActive, listedUnreadable int
	compare.queryRow(step{"count definitions", query("definitions_count"), []any{tenant}},
		&res.Seen, &res.Inserted, &res.Changed, &active, &matchedActive, &listedUnreadable)
	if err := compare.send(dbCtx, tx, l.cfg.Logger, "compare with stored definitions"); err != nil {
		return res, err
	}
	if err := stopped(ctx); err != nil {
		return res, err
	}
	res.Unchanged = res.Seen - res.Inserted - res.Changed
	missing := active - matchedActive - listedUnreadable
	withhold, why := l.withholdDeletions(missing, active, stats.Unidentified)
	if withhold {
		res.DeletionsWithheld = missing
	} else {
		res.Deleted = max(missing, 0)
	}

	all := []any{tenant, fetchedAt, runID}
	var apply batch
	if res.Inserted > 0 {
		apply.exec(step{"insert new definitions", query("definitions_insert_new"), all}, nil)
	}
	// Changed counts the known definitions of the diff: changed, or
	// returning unchanged.
	if res.Changed > 0 {
		apply.exec(step{"close changed definition versions", query("definitions_close_changed_versions"), []any{fetchedAt, runID}}, nil)
		apply.exec(step{"open new definition versions", query("definitions_open_new_versions"), []any{fetchedAt, runID}}, nil)
		apply.exec(step{"update changed definitions", query("definitions_update_changed"), nil}, nil)
	}
	if missing > 0 {
		apply.exec(step{"find missing definitions", query("definitions_find_missing"), []any{tenant}}, nil)
		if withhold {
			apply.exec(step{"record withheld definition deletions", query("definitions_record_withheld"), []any{runID}}, nil)
		} else {
			apply.exec(step{"delete missing definitions", query("definitions_delete_missing"), []any{fetchedAt, runID}}, nil)
		}
	}
	// A definition's latestScan is a session when no stored session of
	// the definition ran at that time (one the history named, with its
	// id, or this same latestScan seen by an earlier sync).
	if latestScans {
		apply.exec(step{"record latest scans", query("definitions_record_latest_scans"), all}, nil)
	}
	apply.exec(l.finishRunStep(runID, res, previous), nil)
	if err := apply.send(dbCtx, tx, l.cfg.Logger, "apply the definitions"); err != nil {
		return res, err
	}
	if withhold {
		l.logWithheld("definitions", why, runID, missing, active, stats.Unidentified)
	}
	if err := stopped(ctx); err != nil {
		return res, err
	}
	if err := tx.Commit(dbCtx); err != nil {
		return res, fmt.Errorf("commit: %w", interpretError(err))
	}
	return res, nil
}
