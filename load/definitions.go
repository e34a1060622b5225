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

const definitionStaging = `
	CREATE TEMPORARY TABLE agentsync_definitions (
		seq                   bigint  NOT NULL,
		definition_id         text    NOT NULL,
		scan_name             text,
		scan_type             text,
		is_active             boolean,
		interval_hours        integer,
		target                text,
		target_type           text,
		scanner_agent_id      text,
		auth_variant          text,
		auth_type             text,
		created_by            text,
		extra                 jsonb   NOT NULL,
		latest_status         text,
		latest_failure_reason text,
		latest_executed_at    timestamptz
	) ON COMMIT DROP`

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

// definitionAttributes are the versioned attributes of a definition, as
// a row of definition_state, definition_version or the staging table.
const definitionAttributes = `scan_name, scan_type, is_active, interval_hours, target, target_type,
	scanner_agent_id, auth_variant, auth_type, created_by, extra`

func prefixed(prefix string) string {
	return prefix + `scan_name, ` + prefix + `scan_type, ` + prefix + `is_active, ` + prefix + `interval_hours, ` +
		prefix + `target, ` + prefix + `target_type, ` + prefix + `scanner_agent_id, ` + prefix + `auth_variant, ` +
		prefix + `auth_type, ` + prefix + `created_by, ` + prefix + `extra`
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

	stats, err := copyListing(ctx, dbCtx, tx, "agentsync_definitions", definitionStaging, definitionColumns,
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
		{"record unreadable definitions", `
			CREATE TEMPORARY TABLE agentsync_definitions_unreadable ON COMMIT DROP AS
			SELECT DISTINCT id AS definition_id FROM unnest($1::text[]) AS id`, []any{stats.RejectedIDs}},
		{"remove duplicate definitions", `
			DELETE FROM pg_temp.agentsync_definitions s
			 USING pg_temp.agentsync_definitions later
			 WHERE later.definition_id = s.definition_id AND later.seq > s.seq`, nil},
		{"compare with stored definitions", `
			CREATE TEMPORARY TABLE agentsync_definition_diff ON COMMIT DROP AS
			SELECT * FROM (
				SELECT s.*, d.definition_key, d.deleted_at IS NOT NULL AS is_returning,
				       (` + prefixed("d.") + `) IS DISTINCT FROM (` + prefixed("s.") + `) AS changed
				  FROM pg_temp.agentsync_definitions s
				  LEFT JOIN defender.definition_state d ON d.tenant_id = $1 AND d.definition_id = s.definition_id) x
			 WHERE x.definition_key IS NULL OR x.is_returning OR x.changed`, []any{tenant}},
	}
	if err := exec(ctx, dbCtx, tx, l.cfg.Logger, prepare); err != nil {
		return res, err
	}
	var active, matchedActive, listedUnreadable int
	if err := tx.QueryRow(dbCtx, `
		SELECT (SELECT count(*) FROM pg_temp.agentsync_definitions),
		       (SELECT count(*) FROM pg_temp.agentsync_definition_diff WHERE definition_key IS NULL),
		       (SELECT count(*) FROM pg_temp.agentsync_definition_diff WHERE definition_key IS NOT NULL),
		       (SELECT count(*) FROM defender.definition_state WHERE tenant_id = $1 AND deleted_at IS NULL),
		       (SELECT count(*) FROM pg_temp.agentsync_definitions s
		          JOIN defender.definition_state d ON d.tenant_id = $1 AND d.definition_id = s.definition_id AND d.deleted_at IS NULL),
		       (SELECT count(*) FROM pg_temp.agentsync_definitions_unreadable u
		          JOIN defender.definition_state d ON d.tenant_id = $1 AND d.definition_id = u.definition_id AND d.deleted_at IS NULL
		         WHERE NOT EXISTS (SELECT FROM pg_temp.agentsync_definitions s WHERE s.definition_id = u.definition_id))`,
		tenant).Scan(&res.Seen, &res.Inserted, &res.Changed, &active, &matchedActive, &listedUnreadable); err != nil {
		return res, fmt.Errorf("count definitions: %w", interpretError(err))
	}
	res.Unchanged = res.Seen - res.Inserted - res.Changed
	missing := active - matchedActive - listedUnreadable
	withhold, why := l.withholdDeletions(missing, active, stats.Unidentified)

	all := []any{tenant, fetchedAt, runID}
	steps := []step{
		{"insert new definitions", `
			WITH inserted AS (
				INSERT INTO defender.definition_state (tenant_id, definition_id, ` + definitionAttributes + `,
				                                       first_seen_at, first_seen_run_id)
				SELECT $1, d.definition_id, ` + prefixed("d.") + `, $2, $3
				  FROM pg_temp.agentsync_definition_diff d
				 WHERE d.definition_key IS NULL
				RETURNING *
			)
			INSERT INTO defender.definition_version (definition_key, ` + definitionAttributes + `, valid_from, opened_by_run_id)
			SELECT i.definition_key, ` + prefixed("i.") + `, $2, $3 FROM inserted i`, all},
		{"close changed definition versions", `
			UPDATE defender.definition_version v
			   SET valid_to = $1, closed_by_run_id = $2
			  FROM pg_temp.agentsync_definition_diff d
			 WHERE v.definition_key = d.definition_key AND v.valid_to IS NULL AND d.changed`, []any{fetchedAt, runID}},
		{"open new definition versions", `
			INSERT INTO defender.definition_version (definition_key, ` + definitionAttributes + `, valid_from, opened_by_run_id)
			SELECT d.definition_key, ` + prefixed("d.") + `, $1, $2
			  FROM pg_temp.agentsync_definition_diff d
			 WHERE d.definition_key IS NOT NULL AND (d.changed OR d.is_returning)`, []any{fetchedAt, runID}},
		{"update changed definitions", `
			UPDATE defender.definition_state s
			   SET (` + definitionAttributes + `) = (` + prefixed("d.") + `),
			       deleted_at = NULL, deleted_by_run_id = NULL
			  FROM pg_temp.agentsync_definition_diff d
			 WHERE s.definition_key = d.definition_key AND (d.changed OR d.is_returning)`, nil},
	}
	if missing > 0 {
		steps = append(steps, step{"find missing definitions", `
			CREATE TEMPORARY TABLE agentsync_definitions_missing ON COMMIT DROP AS
			SELECT d.definition_key
			  FROM defender.definition_state d
			 WHERE d.tenant_id = $1 AND d.deleted_at IS NULL
			   AND NOT EXISTS (SELECT FROM pg_temp.agentsync_definitions s WHERE s.definition_id = d.definition_id)
			   AND NOT EXISTS (SELECT FROM pg_temp.agentsync_definitions_unreadable u WHERE u.definition_id = d.definition_id)`,
			[]any{tenant}})
		if withhold {
			steps = append(steps, step{"record withheld definition deletions", `
				INSERT INTO defender.definition_withheld (definition_key, run_id)
				SELECT m.definition_key, $1 FROM pg_temp.agentsync_definitions_missing m`, []any{runID}})
		} else {
			steps = append(steps, step{"delete missing definitions", `
				WITH deleted AS (
					UPDATE defender.definition_state d
					   SET deleted_at = $1, deleted_by_run_id = $2
					  FROM pg_temp.agentsync_definitions_missing m
					 WHERE d.definition_key = m.definition_key
					RETURNING d.definition_key
				)
				UPDATE defender.definition_version v
				   SET valid_to = $1, closed_by_run_id = $2
				  FROM deleted
				 WHERE v.definition_key = deleted.definition_key AND v.valid_to IS NULL`, []any{fetchedAt, runID}})
		}
	}
	// A definition's latestScan is a session when no stored session of
	// the definition ran at that time (one the history named, with its
	// id, or this same latestScan seen by an earlier sync).
	steps = append(steps, step{"record latest scans", `
		INSERT INTO defender.session_result (tenant_id, definition_id, scanner_agent_id, status, scanned_at, general_error,
		                                     source, recorded_at, recorded_by_run_id)
		SELECT $1, s.definition_id, s.scanner_agent_id, s.latest_status, s.latest_executed_at, s.latest_failure_reason,
		       'latest_scan', $2, $3
		  FROM pg_temp.agentsync_definitions s
		 WHERE s.latest_executed_at IS NOT NULL
		   AND NOT EXISTS (SELECT FROM defender.session_result r
		                    WHERE r.tenant_id = $1 AND r.definition_id = s.definition_id AND r.scanned_at = s.latest_executed_at)
		ON CONFLICT (tenant_id, definition_id, scanned_at) WHERE session_id IS NULL DO NOTHING`, all})
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
