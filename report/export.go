package report

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// The evidence agentsync export writes: the fleet as of a time, the
// changes and the runs of the period before it, as CSV, and a manifest
// that names the runs behind the fleet and the SHA-256 of every file, so
// that an auditor can take the files away and check later that none was
// edited.

// ExportFormatVersion is the manifest's format_version: it changes when
// a file or field of the export changes meaning.
const ExportFormatVersion = 1

// The files an export writes, in the order of the manifest; ManifestFile
// last, once the others are whole.
const (
	FleetFile             = "fleet.csv"
	ChangesFile           = "changes.csv"
	DefinitionChangesFile = "definition_changes.csv"
	RunsFile              = "runs.csv"
	ManifestFile          = "manifest.json"
)

// DefaultExportPeriod is how far back from the as-of time the changes and
// runs of an export go when no start is given.
const DefaultExportPeriod = 30 * 24 * time.Hour

// ErrExportDirNotEmpty is returned when the directory to export to holds
// files already: an export never mixes its files with others, nor
// replaces an earlier export.
var ErrExportDirNotEmpty = errors.New("the directory is not empty")

// ExportOptions choose what an export covers.
type ExportOptions struct {
	// AsOf is the time of the fleet, and the end of the period; required.
	AsOf time.Time
	// Since is the start of the period (excluded); DefaultExportPeriod
	// before AsOf when zero.
	Since time.Time
	// Tenant limits the export to one tenant (a GUID or domain, any
	// case); empty for every tenant the database holds (that the user
	// may read).
	Tenant string
	// Version is agentsync's version, for the manifest.
	Version string
}

// ExportManifest is manifest.json: what the export covers, the runs
// behind it, and each file's row count and SHA-256.
type ExportManifest struct {
	FormatVersion    int       `json:"format_version"`
	AgentsyncVersion string    `json:"agentsync_version"`
	GeneratedAt      time.Time `json:"generated_at"`
	AsOf             time.Time `json:"as_of"`
	Since            time.Time `json:"since"`
	// Tenant is the tenant asked for; nil (null) when every tenant was.
	Tenant *string `json:"tenant"`
	// Tenants are the tenants exported, in the order of their ids.
	Tenants []ExportTenant `json:"tenants"`
	// Files are the CSV files, in the order they were written.
	Files []ExportFile `json:"files"`
	// ChainHeads are, per tenant exported and per resource, the digest of
	// its last successful run at or before as_of: the head of the chain
	// the export's runs belong to, to compare with defender.run_digests
	// (and agentsync verify) later. A tenant or resource without a
	// digested run then is absent.
	ChainHeads map[string]map[string]ChainHead `json:"chain_heads"`
}

// ExportTenant is a tenant of an export and the sync its fleet comes from.
type ExportTenant struct {
	TenantID string `json:"tenant_id"`
	// AsOfRunID and AsOfFetchedAt are the tenant's last successful agents
	// sync at or before as_of (scan_agents_as_of's as_of_run_id and
	// as_of_fetched_at); null when it had none.
	AsOfRunID     *int64     `json:"as_of_run_id"`
	AsOfFetchedAt *time.Time `json:"as_of_fetched_at"`
	// Agents are its rows of fleet.csv.
	Agents int `json:"agents"`
}

// ExportFile is a CSV file of an export.
type ExportFile struct {
	Name string `json:"name"`
	// Rows are the records after the header.
	Rows int `json:"rows"`
	// SHA256 is the hex SHA-256 of the file's bytes, as sha256sum prints it.
	SHA256 string `json:"sha256"`
}

// The statements of an export. Each reads a documented view or function
// of schema defender, never the storage behind them; $1 and $2 bound the
// period (since, as_of], $3 is the tenant or empty for all.
const (
	exportTenantsQuery = `SELECT DISTINCT tenant_id FROM defender.sync_runs ORDER BY tenant_id`

	exportFleetQuery = `
	SELECT tenant_id, agent_id, machine_id, computer_dns_name, assigned_application_id,
	       scanner_software_version, mde_client_version, last_seen, last_command_execution_at,
	       extra, as_of_run_id, as_of_fetched_at
	  FROM defender.scan_agents_as_of($1, nullif($2, ''))
	 WHERE $2 = '' OR tenant_id = $2
	 ORDER BY tenant_id, agent_id`

	// The sync each tenant's fleet comes from, as scan_agents_as_of names
	// it; a tenant whose fleet was empty has no row there, and its sync is
	// found as that function finds it: its last successful agents run
	// fetched at or before the time.
	exportFleetRunsQuery = `
	SELECT tenant_id, as_of_run_id, as_of_fetched_at, count(*)
	  FROM defender.scan_agents_as_of($1, nullif($2, ''))
	 WHERE $2 = '' OR tenant_id = $2
	 GROUP BY tenant_id, as_of_run_id, as_of_fetched_at
	 ORDER BY tenant_id`
	exportEmptyFleetRunQuery = `
	SELECT run_id, fetched_at
	  FROM defender.sync_runs
	 WHERE tenant_id = $2 AND resource = 'agents' AND status = 'succeeded' AND fetched_at <= $1
	 ORDER BY fetched_at DESC
	 LIMIT 1`

	exportChangesQuery = `
	SELECT tenant_id, agent_id, changed_at, attribute, old_value, new_value, run_id, previous_sync_at
	  FROM defender.scan_agent_changes
	 WHERE changed_at > $1 AND changed_at <= $2 AND ($3 = '' OR tenant_id = $3)
	 ORDER BY tenant_id, changed_at, agent_id, attribute, run_id`

	exportDefinitionChangesQuery = `
	SELECT tenant_id, definition_id, changed_at, attribute, old_value, new_value, run_id, previous_sync_at
	  FROM defender.scan_definition_changes
	 WHERE changed_at > $1 AND changed_at <= $2 AND ($3 = '' OR tenant_id = $3)
	 ORDER BY tenant_id, changed_at, definition_id, attribute, run_id`

	// Every column of the runs of the period: those that fetched in it
	// (the runs of every change exported), or started in it when they
	// never fetched; and the runs the fleet comes from ($4), however old.
	exportRunsQuery = `
	SELECT *
	  FROM defender.sync_runs
	 WHERE ($3 = '' OR tenant_id = $3)
	   AND ((coalesce(fetched_at, started_at) > $1 AND coalesce(fetched_at, started_at) <= $2)
	        OR run_id = ANY($4))
	 ORDER BY tenant_id, run_id`
)

// Export writes the evidence of opt into dir: FleetFile, ChangesFile,
// DefinitionChangesFile and RunsFile as CSV, then ManifestFile. dir is
// created (mode 0700) when missing; one that holds anything is refused
// (ErrExportDirNotEmpty). Everything is read in one read-only REPEATABLE
// READ transaction, so that the files agree with each other, from the
// documented views and functions only (any member of defender_reader may
// export). Each file is written under a temporary name with mode 0600 and
// renamed once every file is whole, the manifest last: a failed export
// leaves no file behind, and a directory without manifest.json is no
// export. A tenant never synced is an UnknownTenantError.
func Export(ctx context.Context, db DB, dir string, opt ExportOptions) (*ExportManifest, error) {
	if opt.AsOf.IsZero() {
		return nil, errors.New("export: no as-of time")
	}
	asOf := opt.AsOf.UTC()
	since := opt.Since.UTC()
	if opt.Since.IsZero() {
		since = asOf.Add(-DefaultExportPeriod)
	}
	if !since.Before(asOf) {
		return nil, fmt.Errorf("export: the period starts at %s, not before as-of %s", since.Format(time.RFC3339Nano), asOf.Format(time.RFC3339Nano))
	}
	tenant := strings.ToLower(strings.TrimSpace(opt.Tenant))

	created, err := prepareExportDir(dir)
	if err != nil {
		return nil, err
	}
	out := &exportFiles{dir: dir}
	defer out.discard()

	m := &ExportManifest{
		FormatVersion:    ExportFormatVersion,
		AgentsyncVersion: opt.Version,
		AsOf:             asOf,
		Since:            since,
		Files:            []ExportFile{},
		ChainHeads:       map[string]map[string]ChainHead{},
	}
	if tenant != "" {
		m.Tenant = &tenant
	}
	err = readOnly(ctx, db, func(tx pgx.Tx) error {
		// Timestamps come in binary (exportFormats), unless the connection
		// asked for the simple protocol: then their text is parsed, in
		// the style set here.
		if _, err := tx.Exec(ctx, `SET LOCAL DateStyle = 'ISO, YMD'`); err != nil {
			return fmt.Errorf("set DateStyle: %w", err)
		}
		if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&m.GeneratedAt); err != nil {
			return fmt.Errorf("read the transaction's time: %w", err)
		}
		m.GeneratedAt = m.GeneratedAt.UTC()
		var err error
		if m.Tenants, err = exportTenants(ctx, tx, asOf, tenant); err != nil {
			return err
		}
		ids := make([]string, len(m.Tenants))
		for i, t := range m.Tenants {
			ids[i] = t.TenantID
		}
		heads, err := readChainHeads(ctx, tx, ids, asOf)
		if err != nil {
			return err
		}
		for id, hs := range heads {
			m.ChainHeads[id] = map[string]ChainHead{}
			for _, h := range hs {
				m.ChainHeads[id][h.Resource] = h
			}
		}
		var fleetRuns []int64
		for _, t := range m.Tenants {
			if t.AsOfRunID != nil {
				fleetRuns = append(fleetRuns, *t.AsOfRunID)
			}
		}
		for _, f := range []struct {
			name, query string
			args        []any
		}{
			{FleetFile, exportFleetQuery, []any{asOf, tenant}},
			{ChangesFile, exportChangesQuery, []any{since, asOf, tenant}},
			{DefinitionChangesFile, exportDefinitionChangesQuery, []any{since, asOf, tenant}},
			{RunsFile, exportRunsQuery, []any{since, asOf, tenant, fleetRuns}},
		} {
			file, err := out.writeCSV(ctx, tx, f.name, f.query, f.args...)
			if err != nil {
				return fmt.Errorf("export %s: %w", f.name, err)
			}
			m.Files = append(m.Files, file)
		}
		return nil
	})
	if err != nil {
		if created {
			os.Remove(dir) // empty: every file written was a temporary one
		}
		return nil, err
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", ManifestFile, err)
	}
	if err := out.write(ManifestFile, append(manifest, '\n')); err != nil {
		return nil, fmt.Errorf("export %s: %w", ManifestFile, err)
	}
	if err := out.commit(); err != nil {
		return nil, err
	}
	return m, nil
}

// exportTenants lists the tenants exported, each with the sync its fleet
// at asOf comes from: every tenant of the database, or the one asked for.
func exportTenants(ctx context.Context, tx pgx.Tx, asOf time.Time, tenant string) ([]ExportTenant, error) {
	known, err := collect(ctx, tx, func(r pgx.Rows) (string, error) {
		var id string
		return id, r.Scan(&id)
	}, exportTenantsQuery)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	if tenant != "" {
		if !slices.Contains(known, tenant) {
			return nil, &UnknownTenantError{Tenant: tenant, Known: known}
		}
		known = []string{tenant}
	}
	fleet, err := collect(ctx, tx, func(r pgx.Rows) (ExportTenant, error) {
		var t ExportTenant
		err := r.Scan(&t.TenantID, &t.AsOfRunID, &t.AsOfFetchedAt, &t.Agents)
		return t, err
	}, exportFleetRunsQuery, asOf, tenant)
	if err != nil {
		return nil, fmt.Errorf("read the syncs of defender.scan_agents_as_of: %w", err)
	}
	out := make([]ExportTenant, 0, len(known))
	for _, id := range known {
		i := slices.IndexFunc(fleet, func(t ExportTenant) bool { return t.TenantID == id })
		if i >= 0 && slices.ContainsFunc(fleet[i+1:], func(t ExportTenant) bool { return t.TenantID == id }) {
			return nil, fmt.Errorf("tenant %q: defender.scan_agents_as_of names more than one sync", id)
		}
		t := ExportTenant{TenantID: id}
		if i >= 0 {
			t = fleet[i]
		} else {
			var runID int64
			var fetched time.Time
			switch err := tx.QueryRow(ctx, exportEmptyFleetRunQuery, asOf, id).Scan(&runID, &fetched); {
			case errors.Is(err, pgx.ErrNoRows):
			case err != nil:
				return nil, fmt.Errorf("tenant %q: read its last sync: %w", id, err)
			default:
				t.AsOfRunID, t.AsOfFetchedAt = &runID, &fetched
			}
		}
		if t.AsOfFetchedAt != nil {
			*t.AsOfFetchedAt = t.AsOfFetchedAt.UTC()
		}
		out = append(out, t)
	}
	return out, nil
}

// prepareExportDir makes sure dir exists, is a directory and is empty,
// creating it with mode 0700 when missing, and says whether it did.
func prepareExportDir(dir string) (created bool, err error) {
	if dir == "" {
		return false, errors.New("export: no directory to write to")
	}
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return false, fmt.Errorf("export to %s: %w", dir, err)
		}
		// MkdirAll leaves an existing parent alone; the directory made
		// gets exactly 0700, whatever the umask.
		if err := os.Chmod(dir, 0o700); err != nil {
			return false, fmt.Errorf("export to %s: %w", dir, err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("export to %s: %w", dir, err)
	case !info.IsDir():
		return false, fmt.Errorf("export to %s: not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("export to %s: %w", dir, err)
	}
	if len(entries) > 0 {
		return false, fmt.Errorf("export to %s: %w (it holds %s): export into a new or empty directory, so that its files are this export's alone",
			dir, ErrExportDirNotEmpty, entryNames(entries))
	}
	return false, nil
}

// entryNames names a few entries of a directory, for an error.
func entryNames(entries []fs.DirEntry) string {
	const most = 3
	var names []string
	for _, e := range entries[:min(len(entries), most)] {
		names = append(names, fmt.Sprintf("%q", e.Name()))
	}
	s := strings.Join(names, ", ")
	if n := len(entries) - most; n > 0 {
		s += fmt.Sprintf(" and %d more", n)
	}
	return s
}

// exportFiles are the files of an export under their temporary names,
// until commit renames them.
type exportFiles struct {
	dir  string
	temp []tempFile
}

type tempFile struct{ temp, name string }

// create opens a new temporary file in the directory for name, mode
// 0600 (os.CreateTemp).
func (e *exportFiles) create(name string) (*os.File, error) {
	f, err := os.CreateTemp(e.dir, "."+name+".*")
	if err != nil {
		return nil, err
	}
	e.temp = append(e.temp, tempFile{temp: f.Name(), name: name})
	return f, nil
}

// finish flushes f to the disk and closes it.
func finish(f *os.File, err error) error {
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// write writes name whole from b.
func (e *exportFiles) write(name string, b []byte) error {
	f, err := e.create(name)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	return finish(f, err)
}

// writeCSV writes the rows of query to a temporary file for name, as CSV
// with a header row of the columns' names, and returns its row count and
// SHA-256.
func (e *exportFiles) writeCSV(ctx context.Context, tx pgx.Tx, name, query string, args ...any) (ExportFile, error) {
	file := ExportFile{Name: name}
	f, err := e.create(name)
	if err != nil {
		return file, err
	}
	sum := sha256.New()
	buf := bufio.NewWriter(io.MultiWriter(f, sum))
	file.Rows, err = copyCSV(ctx, tx, buf, query, args...)
	if err == nil {
		err = buf.Flush()
	}
	if err := finish(f, err); err != nil {
		return file, err
	}
	file.SHA256 = hexSum(sum)
	return file, nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// commit renames every file to its name, in the order written, so that
// the manifest, written last, appears last; then flushes the directory.
func (e *exportFiles) commit() error {
	for i, f := range e.temp {
		if err := os.Rename(f.temp, filepath.Join(e.dir, f.name)); err != nil {
			return fmt.Errorf("export %s: %w", f.name, err)
		}
		e.temp[i].temp = ""
	}
	e.temp = nil
	d, err := os.Open(e.dir)
	if err != nil {
		return fmt.Errorf("export to %s: %w", e.dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("export to %s: %w", e.dir, err)
	}
	return nil
}

// discard removes the temporary files not renamed.
func (e *exportFiles) discard() {
	for _, f := range e.temp {
		if f.temp != "" {
			os.Remove(f.temp)
		}
	}
}

// exportFormats asks the server for timestamps in binary, parsed exactly
// whatever the session's settings, and for every other column in its
// text form: numbers, JSON and arrays as PostgreSQL prints them.
var exportFormats = pgx.QueryResultFormatsByOID{pgtype.TimestamptzOID: pgx.BinaryFormatCode}

// copyCSV writes the rows of query to w as CSV (RFC 4180, CRLF, UTF-8)
// with a header of the columns' names: times in ISO 8601 UTC
// (2026-03-01T00:00:00Z, with the fraction of a second when there is
// one), booleans true or false, NULL an empty field, other values as
// PostgreSQL prints them. It returns the rows written.
func copyCSV(ctx context.Context, tx pgx.Tx, w io.Writer, query string, args ...any) (int, error) {
	rows, err := tx.Query(ctx, query, append([]any{exportFormats}, args...)...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	fields := rows.FieldDescriptions()
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	record := make([]string, len(fields))
	for i, f := range fields {
		record[i] = f.Name
	}
	if err := cw.Write(record); err != nil {
		return 0, err
	}
	types := tx.Conn().TypeMap()
	n := 0
	for rows.Next() {
		for i, raw := range rows.RawValues() {
			record[i], err = csvValue(types, fields[i], raw)
			if err != nil {
				return n, fmt.Errorf("row %d, column %s: %w", n+1, fields[i].Name, err)
			}
		}
		if err := cw.Write(record); err != nil {
			return n, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	cw.Flush()
	return n, cw.Error()
}

// csvValue is the CSV field of a value as the server sent it.
func csvValue(types *pgtype.Map, f pgconn.FieldDescription, raw []byte) (string, error) {
	if raw == nil {
		return "", nil
	}
	switch f.DataTypeOID {
	case pgtype.TimestamptzOID:
		var t pgtype.Timestamptz
		if err := types.Scan(f.DataTypeOID, f.Format, raw, &t); err != nil {
			return "", err
		}
		switch t.InfinityModifier {
		case pgtype.Infinity:
			return "infinity", nil
		case pgtype.NegativeInfinity:
			return "-infinity", nil
		}
		return t.Time.UTC().Format(time.RFC3339Nano), nil
	case pgtype.BoolOID:
		var b bool
		if err := types.Scan(f.DataTypeOID, f.Format, raw, &b); err != nil {
			return "", err
		}
		if b {
			return "true", nil
		}
		return "false", nil
	}
	if f.Format != pgx.TextFormatCode {
		return "", fmt.Errorf("type %d sent in binary", f.DataTypeOID)
	}
	if !utf8.Valid(raw) {
		return "", errors.New("not valid UTF-8: the database's encoding is not UTF8")
	}
	return string(raw), nil
}
