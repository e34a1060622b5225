package report

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
)

// coverageSummary and coverageRows are the queries of the demo's coverage
// section: plain SQL on scan_coverage and scan_target_status, the same a
// user would write.
const (
	coverageSummary = `
		SELECT count(*)::text,
		       count(*) FILTER (WHERE last_status IS NOT NULL AND consecutive_failures = 0)::text,
		       count(*) FILTER (WHERE consecutive_failures > 0)::text,
		       count(*) FILTER (WHERE scanner_stale OR scanner_deleted)::text,
		       (SELECT count(*) FROM defender.scan_target_status t
		         WHERE t.tenant_id = $1 AND t.last_success_at IS NULL)::text
		  FROM defender.scan_coverage WHERE tenant_id = $1`
	coverageRows = `
		SELECT left(scan_name, 30), coalesce(scanner_host, '(unknown agent)'),
		       CASE WHEN scanner_deleted THEN 'deleted' WHEN scanner_stale THEN 'stale' ELSE 'active' END,
		       coalesce(to_char(last_scan_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), 'never'),
		       coalesce(last_status, '-'),
		       coalesce(to_char(last_success_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), 'never'),
		       consecutive_failures::text
		  FROM defender.scan_coverage WHERE tenant_id = $1
		 ORDER BY consecutive_failures DESC, scanner_deleted DESC NULLS LAST, scanner_stale DESC NULLS LAST,
		          last_outcome = 'success' NULLS FIRST, last_success_at NULLS FIRST, scan_name
		 LIMIT 12`
)

// WriteCoverageText prints which of tenant's scans do their job, as the
// demo ends: the active definitions, those failing, and those whose
// scanner agent went stale, read in one snapshot.
func WriteCoverageText(ctx context.Context, w io.Writer, db DB, tenant string) error {
	return readOnly(ctx, db, func(tx pgx.Tx) error { return writeCoverageText(ctx, w, tx, tenant) })
}

func writeCoverageText(ctx context.Context, w io.Writer, tx pgx.Tx, tenant string) error {
	var active, ok, failing, badScanner, neverScanned string
	if err := tx.QueryRow(ctx, coverageSummary, tenant).Scan(&active, &ok, &failing, &badScanner, &neverScanned); err != nil {
		return fmt.Errorf("report %q: %w", "scan coverage", err)
	}
	headers := []string{"SCAN", "SCANNER", "AGENT", "LAST RUN (UTC)", "STATUS", "LAST FULL SUCCESS", "FAILED IN A ROW"}
	rows, err := queryCells(ctx, tx, len(headers), coverageRows, tenant)
	if err != nil {
		return fmt.Errorf("report %q: %w", "scan coverage", err)
	}
	fmt.Fprintf(w, "\nScan coverage (defender.scan_coverage, defender.scan_target_status)\n")
	fmt.Fprintf(w, "  %s active scan definitions: %s did not fail last time, %s failing, %s on a stale or deleted scanner agent;\n"+
		"  %s scanned targets never scanned successfully.\n", active, ok, failing, badScanner, neverScanned)
	return writeCells(w, headers, rows)
}
