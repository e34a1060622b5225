package load

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agentsync/agentsync/internal/idset"
	"github.com/agentsync/agentsync/internal/safetext"
	"github.com/agentsync/agentsync/scanagent"
)

// workTables are the temporary tables of a sync. They belong to the
// session and keep their definition from one sync to the next on the same
// connection (creating them costs more than a small tenant's whole sync);
// a sync empties its tables before it commits (workTablesEnd), and a
// transaction that rolls back takes its rows with it. They are named
// apart (agentsync_work_*) from the tables of the releases that let each
// commit empty them (ON COMMIT DELETE ROWS) and do not: through a
// transaction pooler, a release of each kind may use the same server
// connection, during an upgrade for instance.
//
//   - agentsync_work_staging: the records of the listing that may change
//     something (see knownAgents), as COPY streams them in;
//   - agentsync_work_unreadable: ids of agents listed but unreadable;
//   - agentsync_work_diff: the agents whose descriptive row must be written;
//   - agentsync_work_missing: the active agents the listing lacks.
var workTables = []string{
	query("agents_create_staging"),
	query("agents_create_unreadable"),
	query("agents_create_diff"),
	query("agents_create_missing"),
}

// truncateEvery and truncateAbove choose when a sync truncates its work
// tables instead of deleting their rows: a run whose id is a multiple of
// truncateEvery, or one that staged more than truncateAbove rows. The room
// of deleted rows is not used again until the table is truncated (a
// temporary table is never vacuumed), so that between two truncations a
// connection's work tables hold a few syncs of a small tenant, and the
// planner's estimate of their rows (from their size) stays near.
const (
	truncateEvery = 8
	truncateAbove = 1000
)

// workTablesEnd are the two statements that end a sync's use of its work
// tables before it commits: one deletes their rows, the other truncates
// them. ON COMMIT DELETE ROWS truncated every work table of the session at
// each commit that had touched one, twelve tables and their TOAST tables,
// indexes rebuilt: about 4 ms a commit, a fifth of the server's time in an
// hourly sync of every resource of a small tenant. Deleting a small sync's
// rows from its own four tables costs a tenth of it.
type workTablesEnd struct{ empty, truncate string }

// step empties the work tables of run, which staged that many rows,
// truncating them every truncateEvery runs and after a large one.
func (w workTablesEnd) step(runID int64, staged int) step {
	if runID%truncateEvery == 0 || staged > truncateAbove {
		return step{"truncate the work tables", w.truncate, nil}
	}
	return step{"empty the work tables", w.empty, nil}
}

// agentsWorkTablesEnd ends an agents sync's use of workTables.
var agentsWorkTablesEnd = workTablesEnd{query("agents_empty_work_tables"), query("agents_truncate_work_tables")}

// stagingColumns are the columns COPY fills in pg_temp.agentsync_work_staging.
var stagingColumns = []string{
	"seq", "agent_id", "machine_id", "computer_dns_name", "assigned_application_id",
	"scanner_software_version", "mde_client_version", "last_seen", "last_command_execution_at", "extra",
	"fingerprint",
}

// stage streams the listing into the temporary staging table (see
// workTables, created by the caller) with COPY and keeps, for an id listed
// more than once, its last record. A record known holds as stored is not
// staged, and one whose heartbeat alone moved is queued in known instead.
// It returns the listing's statistics, the number of agents staged and
// the time spent waiting for the listing, and a *FetchError when the
// listing failed.
//
// The listing runs under ctx, the statements under dbCtx: a cancelled ctx
// ends the listing, which ends the COPY cleanly.
func stage(ctx, dbCtx context.Context, tx pgx.Tx, list scanagent.ListFunc, known *knownAgents) (_ scanagent.ListStats, agents int, waited time.Duration, err error) {
	// ids holds every id of an agent not known, hashed, so that a listing
	// of a million agents is checked for repeated ids in a few megabytes;
	// mayRepeat is set when one repeats (a repeated id, or rarely a
	// collision: either way the exact SQL check runs). A known agent's
	// repeats are told exactly.
	ids := idset.New()
	var staged int
	var mayRepeat bool
	rows := func(seq int64, r scanagent.Record) ([][]any, error) {
		if r.ID == "" {
			return nil, fmt.Errorf("record %d: agent without id", seq)
		}
		stage, fp, isKnown, repeat := known.classify(&r)
		if repeat || !isKnown && ids.Add(r.ID) {
			mayRepeat = true
		}
		if !stage {
			return nil, nil
		}
		values, err := recordValues(seq, r, fp)
		if err != nil {
			return nil, err
		}
		staged++
		return [][]any{values}, nil
	}
	stats, err := copyInto(ctx, dbCtx, tx, "agentsync_work_staging", stagingColumns, listing[scanagent.Record](list), rows, &waited)
	if err != nil {
		return stats, 0, waited, err
	}
	known.keep(stats.RejectedIDs)
	// The staging table is not analyzed: the planner's estimate from its
	// size is enough for the hash joins that read it, and ANALYZE of a large
	// listing took longer than those joins.
	// Agents listed but unreadable are kept as they were: their absence
	// from the staged records is no deletion.
	if len(stats.RejectedIDs) > 0 {
		if _, err := tx.Exec(dbCtx, query("agents_record_unreadable"), stats.RejectedIDs); err != nil {
			return stats, 0, waited, fmt.Errorf("record unreadable agents: %w", interpretError(err))
		}
	}
	// An id listed twice: the last record wins. Most listings have none,
	// and then skip the self-join.
	if !mayRepeat {
		return stats, staged, waited, nil
	}
	tag, err := tx.Exec(dbCtx, query("agents_remove_duplicates"))
	if err != nil {
		return stats, 0, waited, fmt.Errorf("remove duplicate agents: %w", interpretError(err))
	}
	return stats, staged - int(tag.RowsAffected()), waited, nil
}

// recordValues converts a record to a staging row: empty strings and zero
// times become NULL, times are cut to PostgreSQL's microseconds, and text
// PostgreSQL cannot store is refused with the agent and field named.
func recordValues(seq int64, r scanagent.Record, fingerprint [fingerprintSize]byte) ([]any, error) {
	texts := [...]struct{ field, value string }{
		{"id", r.ID},
		{"machine_id", r.MachineID},
		{"computer_dns_name", r.ComputerDNSName},
		{"assigned_application_id", r.AssignedApplicationID},
		{"scanner_software_version", string(r.ScannerSoftwareVersion)},
		{"mde_client_version", string(r.MDEClientVersion)},
	}
	for _, t := range texts {
		if !storableText(t.value) {
			return nil, fmt.Errorf("agent %s: field %s holds text PostgreSQL cannot store (NUL byte or invalid UTF-8)", quoteID(r.ID), t.field)
		}
	}
	extra, err := extraJSON(func() string { return "agent " + quoteID(r.ID) }, r.Extra)
	if err != nil {
		return nil, err
	}
	return []any{
		seq, r.ID, nullText(r.MachineID), nullText(r.ComputerDNSName), nullText(r.AssignedApplicationID),
		nullText(string(r.ScannerSoftwareVersion)), nullText(string(r.MDEClientVersion)),
		nullTime(r.LastSeen), nullTime(r.LastCommandExecutionAt), extra, fingerprint[:],
	}, nil
}

// extraJSON encodes the fields without a column of a record, refusing
// what a jsonb column cannot store; what names the record in the error.
func extraJSON(what func() string, fields map[string]json.RawMessage) (json.RawMessage, error) {
	if len(fields) == 0 {
		return json.RawMessage("{}"), nil
	}
	for k, v := range fields {
		if !storableText(k) || !storableText(string(v)) || strings.Contains(string(v), `\u0000`) {
			return nil, fmt.Errorf("%s: extra field %s holds text PostgreSQL cannot store", what(), quoteID(k))
		}
	}
	b, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("%s: extra fields: %w", what(), err)
	}
	return b, nil
}

func storableText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// quoteID shows an id or a key in an error message, made safe by
// safetext: it may hold what PostgreSQL cannot store.
func quoteID(s string) string { return `"` + safetext.Cut(s, 128) + `"` }

func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullTime is t as PostgreSQL stores it: NULL when zero, else in UTC cut
// to microseconds.
func nullTime(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: t.UTC().Truncate(time.Microsecond), Valid: true}
}
