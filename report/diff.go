package report

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentsync/agentsync/internal/safetext"
)

// ErrNoFleetDiff is returned when the database has no
// defender.scan_agents_diff: its migrations are older than the function.
var ErrNoFleetDiff = errors.New("no defender.scan_agents_diff in this database: run agentsync migrate, or point at the database agentsync syncs into")

// AgentValues are an agent's descriptive columns at one side of a diff.
type AgentValues struct {
	MachineID              *string         `json:"machine_id"`
	ComputerDNSName        *string         `json:"computer_dns_name"`
	AssignedApplicationID  *string         `json:"assigned_application_id"`
	ScannerSoftwareVersion *string         `json:"scanner_software_version"`
	MDEClientVersion       *string         `json:"mde_client_version"`
	Extra                  json.RawMessage `json:"extra"`
}

// AgentChange is a row of defender.scan_agents_diff: an agent that
// appeared, was deleted, returned or changed between two times.
type AgentChange struct {
	Tenant  string `json:"tenant_id"`
	AgentID string `json:"agent_id"`
	// Change is appeared, deleted, returned or changed.
	Change string `json:"change"`
	// ChangedColumns name the columns that differ, for a change.
	ChangedColumns []string `json:"changed_columns"`
	// Old and New are the values at each side; nil where the agent was
	// not in the fleet.
	Old *AgentValues `json:"old"`
	New *AgentValues `json:"new"`
	// The tenant's sync each side reflects; nil before its first.
	FromRunID     *int64     `json:"from_run_id"`
	FromFetchedAt *time.Time `json:"from_fetched_at"`
	ToRunID       *int64     `json:"to_run_id"`
	ToFetchedAt   *time.Time `json:"to_fetched_at"`
}

const fleetDiffQuery = `
	SELECT tenant_id, agent_id, change, changed_columns,
	       old_machine_id, new_machine_id, old_computer_dns_name, new_computer_dns_name,
	       old_assigned_application_id, new_assigned_application_id,
	       old_scanner_software_version, new_scanner_software_version,
	       old_mde_client_version, new_mde_client_version, old_extra, new_extra,
	       from_run_id, from_fetched_at, to_run_id, to_fetched_at
	  FROM defender.scan_agents_diff($1, $2, nullif($3, ''))`

// ReadFleetDiff reads defender.scan_agents_diff(from, to) of the tenant
// (every tenant when empty), in one read-only transaction. A tenant never
// synced is an UnknownTenantError.
func ReadFleetDiff(ctx context.Context, db DB, from, to time.Time, tenant string) ([]AgentChange, error) {
	tenant = strings.ToLower(strings.TrimSpace(tenant))
	var changes []AgentChange
	err := readOnly(ctx, db, func(tx pgx.Tx) error {
		var has bool
		if err := tx.QueryRow(ctx,
			`SELECT to_regprocedure('defender.scan_agents_diff(timestamptz, timestamptz, text)') IS NOT NULL`).Scan(&has); err != nil {
			return fmt.Errorf("look for defender.scan_agents_diff: %w", err)
		}
		if !has {
			return ErrNoFleetDiff
		}
		if tenant != "" {
			known, err := collect(ctx, tx, func(r pgx.Rows) (string, error) {
				var id string
				return id, r.Scan(&id)
			}, `SELECT DISTINCT tenant_id FROM defender.sync_runs ORDER BY tenant_id`)
			if err != nil {
				return fmt.Errorf("list tenants: %w", err)
			}
			if !slices.Contains(known, tenant) {
				return &UnknownTenantError{Tenant: tenant, Known: known}
			}
		}
		var err error
		changes, err = collect(ctx, tx, scanAgentChange, fleetDiffQuery, from, to, tenant)
		if err != nil {
			return fmt.Errorf("read defender.scan_agents_diff: %w", err)
		}
		return nil
	})
	return changes, err
}

func scanAgentChange(r pgx.Rows) (AgentChange, error) {
	var c AgentChange
	var o, n AgentValues
	var oldExtra, newExtra []byte
	err := r.Scan(&c.Tenant, &c.AgentID, &c.Change, &c.ChangedColumns,
		&o.MachineID, &n.MachineID, &o.ComputerDNSName, &n.ComputerDNSName,
		&o.AssignedApplicationID, &n.AssignedApplicationID,
		&o.ScannerSoftwareVersion, &n.ScannerSoftwareVersion,
		&o.MDEClientVersion, &n.MDEClientVersion, &oldExtra, &newExtra,
		&c.FromRunID, &c.FromFetchedAt, &c.ToRunID, &c.ToFetchedAt)
	if err != nil {
		return c, err
	}
	// Extra is never null on an agent in the fleet: its absence says
	// which side the agent is missing from.
	if oldExtra != nil {
		o.Extra = oldExtra
		c.Old = &o
	}
	if newExtra != nil {
		n.Extra = newExtra
		c.New = &n
	}
	for _, t := range []*time.Time{c.FromFetchedAt, c.ToFetchedAt} {
		if t != nil {
			*t = t.UTC()
		}
	}
	if c.ChangedColumns == nil {
		c.ChangedColumns = []string{}
	}
	return c, nil
}

// column is the value of a descriptive column, "" where the side has none.
func (v *AgentValues) column(name string) string {
	if v == nil {
		return ""
	}
	s := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	switch name {
	case "machine_id":
		return s(v.MachineID)
	case "computer_dns_name":
		return s(v.ComputerDNSName)
	case "assigned_application_id":
		return s(v.AssignedApplicationID)
	case "scanner_software_version":
		return s(v.ScannerSoftwareVersion)
	case "mde_client_version":
		return s(v.MDEClientVersion)
	case "extra":
		return string(v.Extra)
	}
	return ""
}

// DiffColumns are the descriptive columns scan_agents_diff compares, in
// its order.
var DiffColumns = []string{"machine_id", "computer_dns_name", "assigned_application_id",
	"scanner_software_version", "mde_client_version", "extra"}

// WriteDiffTable writes changes as a table for a terminal: per agent its
// change and what changed, old -> new. Values from the API show their
// control characters as escapes.
func WriteDiffTable(w io.Writer, changes []AgentChange) error {
	if len(changes) == 0 {
		_, err := fmt.Fprintln(w, "no agent changed")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tAGENT\tCHANGE\tWHAT\tFROM RUN\tTO RUN")
	for _, c := range changes {
		var what string
		switch c.Change {
		case "changed":
			parts := make([]string, 0, len(c.ChangedColumns))
			for _, col := range c.ChangedColumns {
				parts = append(parts, fmt.Sprintf("%s: %s -> %s", col,
					orDash(c.Old.column(col)), orDash(c.New.column(col))))
			}
			what = strings.Join(parts, "; ")
		case "deleted":
			what = "was " + orDash(c.Old.column("computer_dns_name"))
		default:
			what = orDash(c.New.column("computer_dns_name"))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", safetext.Escape(c.Tenant), safetext.Escape(c.AgentID), c.Change,
			safetext.Escape(what), runText(c.FromRunID, c.FromFetchedAt), runText(c.ToRunID, c.ToFetchedAt))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runText(id *int64, at *time.Time) string {
	if id == nil || at == nil {
		return "-"
	}
	return fmt.Sprintf("%d (%s)", *id, at.UTC().Format("2006-01-02 15:04"))
}

// diffCSVHeader are the columns of WriteDiffCSV, those of
// scan_agents_diff.
var diffCSVHeader = func() []string {
	h := []string{"tenant_id", "agent_id", "change", "changed_columns"}
	for _, c := range DiffColumns {
		h = append(h, "old_"+c, "new_"+c)
	}
	return append(h, "from_run_id", "from_fetched_at", "to_run_id", "to_fetched_at")
}()

// WriteDiffCSV writes changes as CSV (RFC 4180, UTF-8), the columns of
// scan_agents_diff, times in RFC 3339 UTC, changed columns separated by
// spaces; an empty field where a side has no value.
func WriteDiffCSV(w io.Writer, changes []AgentChange) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(diffCSVHeader); err != nil {
		return err
	}
	for _, c := range changes {
		rec := []string{c.Tenant, c.AgentID, c.Change, strings.Join(c.ChangedColumns, " ")}
		for _, col := range DiffColumns {
			rec = append(rec, c.Old.column(col), c.New.column(col))
		}
		rec = append(rec, idText(c.FromRunID), timeText(c.FromFetchedAt), idText(c.ToRunID), timeText(c.ToFetchedAt))
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func idText(id *int64) string {
	if id == nil {
		return ""
	}
	return strconv.FormatInt(*id, 10)
}

func timeText(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// WriteDiffJSON writes one JSON object per change and line, with nothing
// a terminal acts on (safetext.JSON).
func WriteDiffJSON(w io.Writer, changes []AgentChange) error {
	for _, c := range changes {
		b, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if _, err := w.Write(append(safetext.JSON(b), '\n')); err != nil {
			return err
		}
	}
	return nil
}
