package report

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentsync/agentsync/internal/safetext"
)

// The text tables of agentsync demo: one line per simulated day as the
// syncs run, then what the history shows, read with the plain SQL a user
// would write on the reporting views.

// DayTable prints one line per simulated day of the demo, aligned once
// it is closed.
type DayTable struct {
	w           io.Writer
	tw          *tabwriter.Writer
	syncsPerDay int
	others      int
}

// NewDayTable starts the table of syncs on w, for syncsPerDay syncs a day:
// with more than one, each line shows the day's last successful sync and a
// column counts the day's successful ones. The table tells one tenant's
// story; others names the tenants synced beside it, one column each.
func NewDayTable(w io.Writer, syncsPerDay int, others ...string) *DayTable {
	t := &DayTable{w: w, tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight), syncsPerDay: syncsPerDay, others: len(others)}
	header := "DAY\tDATE\tSTATUS\tAGENTS\tNEW\tCHANGED\tSEEN\tSAME\tDELETED\tREQUESTS\t"
	if syncsPerDay > 1 {
		header += "SYNCS OK\t"
	}
	for _, name := range others {
		header += safetext.Escape(strings.ToUpper(name)) + "\t"
	}
	fmt.Fprintln(t.tw, header)
	return t
}

// OtherTenant is the cell of a tenant synced beside the story's: its
// status and the agents its day's last successful sync listed.
func OtherTenant(syncsOK, syncs, listed int) string {
	switch {
	case syncsOK == 0:
		return "FAILED"
	case syncsOK < syncs:
		return fmt.Sprintf("ok* %d", listed)
	}
	return fmt.Sprintf("ok %d", listed)
}

// otherCells are the cells of the other tenants' columns.
func (t *DayTable) otherCells(cells []string) string {
	var b strings.Builder
	for i := range t.others {
		cell := "-"
		if i < len(cells) {
			cell = cells[i]
		}
		b.WriteString(cell + "\t")
	}
	return b.String()
}

// DayCounts tell the agents of a day's last successful sync apart.
type DayCounts struct {
	// Listed agents; of them New to the history, Changed (a new version of
	// their descriptive attributes, or back after a deletion), Seen (only
	// checked in), the rest the same.
	Listed, New, Changed, Seen int
	Deleted, Requests          int
	// SyncsOK counts the day's successful syncs; SomeFailed tells that one
	// of the day's syncs failed on purpose.
	SyncsOK    int
	SomeFailed bool
}

// syncsOK is the SYNCS OK cell of a line, empty with one sync a day.
func (t *DayTable) syncsOK(ok int) string {
	if t.syncsPerDay <= 1 {
		return ""
	}
	return fmt.Sprintf("%d/%d\t", ok, t.syncsPerDay)
}

// Synced adds the line of a day with a successful sync; others are the
// cells of the other tenants (see OtherTenant).
func (t *DayTable) Synced(day int, date time.Time, c DayCounts, others ...string) {
	status := "ok"
	if c.SomeFailed {
		status = "ok*"
	}
	fmt.Fprintf(t.tw, "%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s%s\n", day, date.Format("2006-01-02"), status,
		c.Listed, c.New, c.Changed, c.Seen, c.Listed-c.New-c.Changed-c.Seen, c.Deleted, c.Requests, t.syncsOK(c.SyncsOK),
		t.otherCells(others))
}

// Failed adds the line of a day whose syncs all failed (on purpose).
func (t *DayTable) Failed(day int, date time.Time, requests int, others ...string) {
	fmt.Fprintf(t.tw, "%d\t%s\tFAILED*\t-\t-\t-\t-\t-\t-\t%d\t%s%s\n", day, date.Format("2006-01-02"), requests, t.syncsOK(0),
		t.otherCells(others))
}

// Close prints the table, then what its columns mean.
func (t *DayTable) Close() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(t.w, "AGENTS: listed that day. Of them, NEW to the history; CHANGED: a new version of their\n"+
		"  descriptive attributes (client or scanner version, host name...: defender.scan_agent_changes),\n"+
		"  or back after a deletion; SEEN: only checked in (last_seen moved:\n"+
		"  defender.scan_agent_observations); SAME: neither. DELETED: no longer listed.")
	if err == nil && t.others > 0 {
		_, err = fmt.Fprintln(t.w, "The columns after them are the tenants synced beside this one, each in its own\n"+
			"  transaction and run: ok and the agents listed, or FAILED.")
	}
	return err
}

// RunCounts tells the agents of a sync's listing apart, as the history
// records them: changed counts those with a new version of their
// descriptive attributes (or back after a deletion), seen those whose only
// change is a check-in (last_seen or the last command moved).
func RunCounts(ctx context.Context, db DB, tenant string, runID int64) (changed, seen int, err error) {
	err = readOnly(ctx, db, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `
		WITH events AS (
		    SELECT agent_id,
		           bool_or(attribute = 'agent' AND new_value = 'first seen') AS is_new,
		           bool_or(attribute <> 'agent' OR new_value = 'returned') AS is_changed
		      FROM defender.scan_agent_changes
		     WHERE tenant_id = $1 AND run_id = $2
		     GROUP BY agent_id
		), moved AS (
		    SELECT o.agent_id
		      FROM defender.scan_agent_observations o
		      LEFT JOIN LATERAL (
		           SELECT p.last_seen, p.last_command_execution_at
		             FROM defender.scan_agent_observations p
		            WHERE p.tenant_id = o.tenant_id AND p.agent_id = o.agent_id AND p.run_id < o.run_id
		            ORDER BY p.run_id DESC LIMIT 1) p ON true
		     WHERE o.tenant_id = $1 AND o.run_id = $2
		       AND (o.last_seen, o.last_command_execution_at) IS DISTINCT FROM (p.last_seen, p.last_command_execution_at)
		)
		SELECT (SELECT count(*) FROM events WHERE is_changed AND NOT is_new),
		       (SELECT count(*) FROM moved m
		         WHERE NOT EXISTS (SELECT FROM events e WHERE e.agent_id = m.agent_id AND (e.is_new OR e.is_changed)))`,
			tenant, runID).Scan(&changed, &seen)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("count the changes of run %d: %w", runID, err)
	}
	return changed, seen, nil
}

// textSections are the tables the demo ends with: plain SQL on the
// reporting views, the same a user would write.
var textSections = []struct {
	title   string
	headers []string
	sql     string
}{
	{
		"Sync runs (defender.sync_runs)",
		[]string{"RESOURCE", "STATUS", "RUNS", "FIRST", "LAST", "ERROR"},
		`SELECT resource, status, count(*)::text,
		        to_char(min(fetched_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), to_char(max(fetched_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
		        coalesce(left(max(error), 100), '-')
		   FROM defender.sync_runs WHERE tenant_id = $1
		  GROUP BY resource, status ORDER BY array_position(ARRAY['agents', 'definitions', 'history'], resource), status DESC`,
	},
	{
		"Version drift (defender.version_drift): active agents by Defender client version",
		[]string{"MDE CLIENT VERSION", "VERSIONS BEHIND", "AGENTS", "NEWEST"},
		`SELECT coalesce(mde_client_version, '(unknown)'), coalesce(versions_behind::text, '-'),
		        count(*)::text, coalesce(min(newest_mde_client_version), '')
		   FROM defender.version_drift WHERE tenant_id = $1
		  GROUP BY 1, 2, versions_behind ORDER BY versions_behind NULLS LAST, 1`,
	},
	{
		"Changes by attribute (defender.scan_agent_changes)",
		[]string{"ATTRIBUTE", "EVENT", "CHANGES"},
		`SELECT attribute, CASE WHEN attribute = 'agent' THEN new_value ELSE 'changed' END, count(*)::text
		   FROM defender.scan_agent_changes WHERE tenant_id = $1
		  GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2`,
	},
	{
		"Latest changes (defender.scan_agent_changes)",
		[]string{"DAY", "HOST", "ATTRIBUTE", "OLD", "NEW", "RUN"},
		`SELECT to_char(c.changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), coalesce(a.computer_dns_name, c.agent_id), c.attribute,
		        coalesce(c.old_value, '-'), coalesce(c.new_value, '-'), c.run_id::text
		   FROM defender.scan_agent_changes c
		   JOIN defender.scan_agents a USING (tenant_id, agent_id)
		  WHERE c.tenant_id = $1
		  ORDER BY c.changed_at DESC, c.run_id DESC, 2, c.attribute LIMIT 12`,
	},
	{
		"Stale agents: active, not seen for 7 days or more (defender.scan_agents)",
		[]string{"HOST", "LAST SEEN (UTC)", "DAYS"},
		`SELECT coalesce(computer_dns_name, agent_id),
		        coalesce(to_char(last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), 'never'),
		        coalesce(extract(day FROM $2::timestamptz - last_seen)::int::text, '-')
		   FROM defender.scan_agents
		  WHERE tenant_id = $1 AND deleted_at IS NULL
		    AND (last_seen IS NULL OR last_seen < $2::timestamptz - interval '7 days')
		  ORDER BY last_seen NULLS FIRST, 1 LIMIT 15`,
	},
}

// WriteText prints the text tables of tenant's history to w, read in one
// snapshot: the runs, version drift, changes and the stale agents as of
// now (the time of the last sync, for a simulated tenant).
func WriteText(ctx context.Context, w io.Writer, db DB, tenant string, now time.Time) error {
	tables := make([][][]string, len(textSections))
	err := readOnly(ctx, db, func(tx pgx.Tx) error {
		for i, section := range textSections {
			args := []any{tenant}
			if strings.Contains(section.sql, "$2") {
				args = append(args, now)
			}
			var err error
			if tables[i], err = queryCells(ctx, tx, len(section.headers), section.sql, args...); err != nil {
				return fmt.Errorf("report %q: %w", section.title, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, section := range textSections {
		fmt.Fprintf(w, "\n%s\n", section.title)
		if len(tables[i]) == 0 {
			fmt.Fprintln(w, "  (none)")
			continue
		}
		if err := writeCells(w, section.headers, tables[i]); err != nil {
			return err
		}
	}
	return nil
}

// queryCells reads the rows of a query of n text columns.
func queryCells(ctx context.Context, tx pgx.Tx, n int, sql string, args ...any) ([][]string, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]string, error) {
		cells := make([]string, n)
		dst := make([]any, n)
		for j := range cells {
			dst[j] = &cells[j]
		}
		return cells, r.Scan(dst...)
	})
}

// writeCells prints a table of text cells under its headers, indented.
// Cells come from the API: their control characters (a tab would shift
// the columns, an escape sequence act on the terminal) show as escapes.
func writeCells(w io.Writer, headers []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  %s\n", strings.Join(headers, "\t"))
	for _, cells := range rows {
		shown := make([]string, len(cells))
		for i, c := range cells {
			shown[i] = safetext.Escape(c)
		}
		fmt.Fprintf(tw, "  %s\n", strings.Join(shown, "\t"))
	}
	return tw.Flush()
}

// readOnly runs fn in a read-only REPEATABLE READ transaction of db, so
// that everything it reads agrees.
func readOnly(ctx context.Context, db DB, fn func(pgx.Tx) error) error {
	tx, err := db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("begin read-only transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
