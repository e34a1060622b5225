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

// applyDefinitions runs the data transaction of one definitions sync.
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

	stats, err := copyListing(ctx, dbCtx, tx, "agentsync_definitions", query("definitions_staging"), definitionColumns,
		listing[scanagent.ScanDefinition](list), definitionRow, &res.FetchDuration)
	res.Rejected, res.APIRequests, res.Duplicates = stats.Rejected, stats.Requests, stats.Duplicates
	res.FieldsRepaired = stats.FieldsRepaired
	if err != nil {
		return res, err
	}
	tenant := l.cfg.TenantID
	// Definitions are few (tens to hundreds a tenant): the statements keep
	// to plain SQL over small temporary tables.
	prepare := []step{
		{"record unreadable definitions", query("definitions_record_unreadable"), []any{stats.RejectedIDs}},
		{"remove duplicate definitions", query("definitions_remove_duplicates"), nil},
		{"compare with stored definitions", query("definitions_compare"), []any{tenant}},
	}
	if err := exec(ctx, dbCtx, tx, l.cfg.Logger, prepare); err != nil {
		return res, err
	}
	var active, matchedActive, listedUnreadable int
	if err := tx.QueryRow(dbCtx, query("definitions_count"),
		tenant).Scan(&res.Seen, &res.Inserted, &res.Changed, &active, &matchedActive, &listedUnreadable); err != nil {
		return res, fmt.Errorf("count definitions: %w", interpretError(err))
	}
	res.Unchanged = res.Seen - res.Inserted - res.Changed
	missing := active - matchedActive - listedUnreadable
	withhold, why := l.withholdDeletions(missing, active, stats.Unidentified)

	all := []any{tenant, fetchedAt, runID}
	steps := []step{
		{"insert new definitions", query("definitions_insert_new"), all},
		{"close changed definition versions", query("definitions_close_changed_versions"), []any{fetchedAt, runID}},
		{"open new definition versions", query("definitions_open_new_versions"), []any{fetchedAt, runID}},
		{"update changed definitions", query("definitions_update_changed"), nil},
	}
	if missing > 0 {
		steps = append(steps, step{"find missing definitions", query("definitions_find_missing"),
			[]any{tenant}})
		if withhold {
			steps = append(steps, step{"record withheld definition deletions", query("definitions_record_withheld"), []any{runID}})
		} else {
			steps = append(steps, step{"delete missing definitions", query("definitions_delete_missing"), []any{fetchedAt, runID}})
		}
	}
	// A definition's latestScan is a session when no stored session of
	// the definition ran at that time (one the history named, with its
	// id, or this same latestScan seen by an earlier sync).
	steps = append(steps, step{"record latest scans", query("definitions_record_latest_scans"), all})
	if err := exec(ctx, dbCtx, tx, l.cfg.Logger, steps); err != nil {
		return res, err
	}
	if withhold {
		res.DeletionsWithheld = missing
		l.logWithheld("definitions", why, runID, missing, active, stats.Unidentified)
	} else {
		res.Deleted = max(missing, 0)
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
