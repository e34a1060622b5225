package load

import (
	"context"
	"encoding/json"
	"errors"
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
	return l.alone(ctx, scanagent.Definitions, time.Time{}, func(ctx context.Context, h *Hold) (Result, error) {
		return h.SyncDefinitions(ctx, list)
	})
}

// SyncDefinitions is Loader.SyncDefinitions under the lease h holds.
func (h *Hold) SyncDefinitions(ctx context.Context, list scanagent.DefinitionListFunc) (Result, error) {
	return h.syncResource(ctx, scanagent.Definitions, nil, func(ctx, dbCtx context.Context, conn *pgx.Conn, runID int64) (Result, error) {
		return h.l.applyDefinitions(ctx, dbCtx, conn, runID, list)
	})
}

// definitionRow converts a definition to a staging row, keyed by the
// columns of pg_temp.agentsync_work_definitions (see definitions_stage).
func definitionRow(seq int64, d scanagent.ScanDefinition) (map[string]any, error) {
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
	return map[string]any{
		"seq": seq, "definition_id": d.ID, "scan_name": nullText(d.Name), "scan_type": nullText(d.ScanType),
		"is_active": nullBool(d.IsActive), "interval_hours": nullInt(d.IntervalHours),
		"target": nullText(d.Target), "target_type": nullText(d.TargetType), "scanner_agent_id": nullText(d.ScannerAgentID),
		"auth_variant": nullText(d.AuthVariant), "auth_type": nullText(d.AuthType), "created_by": nullText(d.CreatedBy),
		"extra":         extra,
		"latest_status": nullText(ls.Status), "latest_failure_reason": nullText(ls.FailureReason),
		"latest_executed_at": nullTime(ls.ExecutedAt),
	}, nil
}

// definitionListing is a listing of definitions read whole, as staging
// rows, before the sync's transaction begins.
type definitionListing struct {
	stats scanagent.ListStats
	rows  []map[string]any
	// repeated is set when an id is listed twice (the last record
	// counts); latestScans when a definition names its latest scan.
	repeated, latestScans bool
}

// readDefinitions reads the whole listing, adding the time spent waiting
// for it to *waited. It returns a *FetchError when the listing failed,
// and the error of a record that cannot be stored.
func readDefinitions(ctx context.Context, list scanagent.DefinitionListFunc, waited *time.Duration) (definitionListing, error) {
	l := definitionListing{rows: []map[string]any{}}
	ids := map[string]struct{}{}
	var seq int64
	var recordErr error
	start := time.Now()
	stats, err := list(ctx, func(d scanagent.ScanDefinition) error {
		seq++
		row, err := definitionRow(seq, d)
		if err != nil {
			recordErr = err
			return errStopped
		}
		if _, ok := ids[d.ID]; ok {
			l.repeated = true
		}
		ids[d.ID] = struct{}{}
		if d.LatestScan != nil && !d.LatestScan.ExecutedAt.IsZero() {
			l.latestScans = true
		}
		l.rows = append(l.rows, row)
		return nil
	})
	*waited += time.Since(start)
	l.stats = stats
	switch {
	case err != nil && !errors.Is(err, errStopped):
		return l, &FetchError{Err: err}
	case recordErr != nil:
		return l, recordErr
	}
	return l, stopped(ctx)
}

// definitionWorkTables are the temporary tables of a definitions sync,
// created once per connection and emptied before each commit (as the
// agents' workTables): creating and dropping four tables cost more than
// the rest of a sync of tens of definitions.
//
//   - agentsync_work_definitions: the listing;
//   - agentsync_work_definitions_unreadable: ids listed but unreadable;
//   - agentsync_work_definition_diff: the definitions to write;
//   - agentsync_work_definitions_missing: the active definitions the listing lacks.
var definitionWorkTables = []string{
	query("definitions_staging"),
	query("definitions_create_unreadable"),
	query("definitions_create_diff"),
	query("definitions_create_missing"),
}

// definitionsWorkTablesEnd ends a definitions sync's use of its work tables.
var definitionsWorkTablesEnd = workTablesEnd{query("definitions_empty_work_tables"), query("definitions_truncate_work_tables")}

var definitionWorkTableNames = []string{
	"agentsync_work_definitions", "agentsync_work_definitions_unreadable", "agentsync_work_definition_diff", "agentsync_work_definitions_missing",
}

// applyDefinitions runs the data transaction of one definitions sync.
// Definitions are few (tens to hundreds a tenant): the listing is read
// whole before the transaction begins, goes in as one parameter (a JSON
// array) rather than by COPY, and the statements keep to plain SQL over
// small temporary tables, sent in three round trips; those with nothing to
// do (no definition new or changed, none missing, none repeated or
// unreadable) are not sent.
func (l *Loader) applyDefinitions(ctx, dbCtx context.Context, conn *pgx.Conn, runID int64, list scanagent.DefinitionListFunc) (Result, error) {
	var res Result
	fetchedAt := l.cfg.Now().UTC().Truncate(time.Microsecond)
	res.FetchedAt = fetchedAt
	listed, err := readDefinitions(ctx, list, &res.FetchDuration)
	stats := listed.stats
	res.Rejected, res.APIRequests, res.Duplicates = stats.Rejected, stats.Requests, stats.Duplicates
	res.FieldsRepaired = stats.FieldsRepaired
	if err != nil {
		return res, err
	}
	rows, err := json.Marshal(listed.rows)
	if err != nil {
		return res, fmt.Errorf("encode the definitions: %w", err)
	}

	tenant := l.cfg.TenantID
	// The work tables exist before a statement that reads them is sent:
	// pgx prepares the statements of a batch before it runs the first.
	var prepare batch
	prepare.beginSync(definitionWorkTables)
	var unanalyzed []string
	prepare.queryRow(step{"find work tables never analyzed", query("work_tables_unanalyzed"), []any{definitionWorkTableNames}}, &unanalyzed)
	var latest *time.Time
	prepare.queryRow(step{"read latest run", query("runs_latest_fetch"), []any{tenant, string(scanagent.Definitions)}}, &latest)
	tx, err := prepare.sendBegin(dbCtx, conn, l.cfg.Logger, "prepare the transaction")
	if tx != nil {
		defer func() { _ = tx.Rollback(context.WithoutCancel(dbCtx)) }()
	}
	if err != nil {
		return res, err
	}
	previous, err := checkLatestFetch(scanagent.Definitions, fetchedAt, latest)
	if err != nil {
		return res, err
	}

	var compare batch
	compare.exec(step{"stage the definitions", query("definitions_stage"), []any{rows}}, nil)
	if len(stats.RejectedIDs) > 0 {
		compare.exec(step{"record unreadable definitions", query("definitions_record_unreadable"), []any{stats.RejectedIDs}}, nil)
	}
	if listed.repeated {
		compare.exec(step{"remove duplicate definitions", query("definitions_remove_duplicates"), nil}, nil)
	}
	compare.exec(step{"compare with stored definitions", query("definitions_compare"), []any{tenant}}, nil)
	var active, matchedActive, listedUnreadable int
	compare.queryRow(step{"count definitions", query("definitions_count"), []any{tenant}},
		&res.Seen, &res.Inserted, &res.Changed, &active, &matchedActive, &listedUnreadable)
	if err := compare.send(dbCtx, tx, l.cfg.Logger, "compare with stored definitions"); err != nil {
		return res, err
	}
	// Tables just created are analyzed once, holding this listing.
	if err := analyzeOnce(dbCtx, tx, unanalyzed, query("analyze_definitions_work_tables")); err != nil {
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
	if listed.latestScans {
		apply.exec(step{"record latest scans", query("definitions_record_latest_scans"), all}, nil)
		apply.exec(coverStep(tenant, runID), nil)
	}
	// The targets' covering definitions are the active ones.
	if res.Inserted > 0 || res.Changed > 0 || res.Deleted > 0 {
		apply.exec(targetStatusStep(tenant), nil)
	}
	apply.exec(l.finishRunStep(runID, res, previous), nil)
	apply.exec(digestStep(runID), nil)
	apply.exec(definitionsWorkTablesEnd.step(runID, len(listed.rows)), nil)
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
