package report

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultPeriod is how far back a report looks unless told otherwise.
const DefaultPeriod = 90 * 24 * time.Hour

// DefaultMaxRows bounds each list of a report (changes, failures, stale
// agents, scans): about what fits a printed page beside the charts. The
// report says how many it left out.
const DefaultMaxRows = 20

// DB is where a report reads: a *pgxpool.Pool or a *pgx.Conn, logged in
// as any member of defender_reader.
type DB interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// Options choose what a report covers. Zero values take the defaults.
type Options struct {
	// Tenant limits the report to one tenant (a GUID or domain, any
	// case); empty for every tenant in the database.
	Tenant string
	// Now is the time the report is made; time.Now() when zero.
	Now time.Time
	// From is the start of the period the trends and lists cover;
	// DefaultPeriod before Now when zero.
	From time.Time
	// MaxRows bounds each list; DefaultMaxRows when zero.
	MaxRows int
}

// Snapshot is everything a report shows, read at one instant.
type Snapshot struct {
	// GeneratedAt is when it was read, From the start of its period.
	GeneratedAt, From time.Time
	// Tenant is the tenant asked for; empty when all were.
	Tenant string
	// Tenants are the tenants ever synced (or the one asked for), worst
	// first (see Tenant.Worse).
	Tenants []Tenant
	// Versions are the Defender client versions of every tenant's days,
	// oldest first: the scale every roll-out chart of the report colours
	// by.
	Versions []string
	// HasScanCoverage tells that the database has defender.scan_coverage,
	// so that Tenant.Coverage was read.
	HasScanCoverage bool
	// MaxRows is the bound each list was read with.
	MaxRows int
}

// Run names one sync run: its id, status and fetch time (its start when it
// fetched nothing).
type Run struct {
	ID     int64
	Status string
	At     time.Time
}

// Tenant is what the report shows of one tenant.
type Tenant struct {
	ID string
	// Name is the tenant's display name (fleet_daily.tenant_name); empty
	// when none was configured.
	Name string
	// FirstSync and LastSync are the first and the last successful sync of
	// the period: the picture comes from them and the syncs between.
	// Nil when the period had none.
	FirstSync, LastSync *Run
	// LatestSuccess is the tenant's latest successful sync, of the period
	// or before it; Latest its latest run, whatever its status.
	LatestSuccess, Latest *Run
	// Runs of the period by status.
	Succeeded, Failed, Running int

	// Days is the fleet as each day's last successful sync of the period
	// saw it (fleet_daily), oldest first.
	Days []FleetDay
	// Versions are the Defender client versions of Days, oldest first.
	Versions []string
	// SyncDays counts the runs of each day of the period that had any.
	SyncDays []SyncDay
	// Failures are the period's failed runs, latest first, at most
	// MaxRows of FailuresTotal.
	Failures      []FailedRun
	FailuresTotal int
	// Changes are the period's latest attribute changes, at most MaxRows
	// of ChangesTotal.
	Changes      []Change
	ChangesTotal int
	// ChangeKinds counts the period's changes by attribute (and, for the
	// agent itself, by what happened to it: first seen, deleted, returned).
	ChangeKinds []ChangeKind
	// Stale are the active agents not seen for 7 days or more before the
	// latest successful sync, or never seen, at most MaxRows of StaleTotal.
	Stale      []StaleAgent
	StaleTotal int
	// Withheld are the period's runs that withheld deletions.
	Withheld []WithheldRun
	// Coverage are the tenant's active scan definitions, when the database
	// has defender.scan_coverage.
	Coverage []Coverage
}

// FleetDay is one row of defender.fleet_daily.
type FleetDay struct {
	Day                        time.Time
	Active, Stale7d, NeverSeen int
	Newest                     string
	OnNewest                   int
	// Versions counts the agents on each Defender client version; agents
	// without one are Active less the sum.
	Versions map[string]int
	Syncs    int
	AsOf     Run
}

// Unversioned counts the day's active agents that report no Defender
// client version.
func (d FleetDay) Unversioned() int {
	n := d.Active
	for _, c := range d.Versions {
		n -= c
	}
	return max(n, 0)
}

// SyncDay counts the runs started on one UTC day.
type SyncDay struct {
	Day                        time.Time
	Succeeded, Failed, Running int
}

// FailedRun is a failed sync and why.
type FailedRun struct {
	RunID     int64
	StartedAt time.Time
	Error     string
}

// Change is one changed attribute of an agent (scan_agent_changes): it
// happened after PreviousSyncAt and at or before ChangedAt.
type Change struct {
	ChangedAt      time.Time
	PreviousSyncAt *time.Time
	AgentID        string
	Host           string
	Attribute      string
	Old, New       *string
	RunID          int64
}

// ChangeKind counts changes of one kind.
type ChangeKind struct {
	Attribute, Change string
	Count             int
}

// StaleAgent is an active agent that did not check in for 7 days or more
// before the latest successful sync (LastSeen nil: never).
type StaleAgent struct {
	AgentID, Host string
	LastSeen      *time.Time
	Version       string
	FirstSeenAt   time.Time
}

// WithheldRun is a successful sync that kept missing agents active instead
// of deleting them (mass-deletion guard, or records without a usable id).
type WithheldRun struct {
	RunID     int64
	FetchedAt time.Time
	Seen      int
	Withheld  int
}

// Coverage is one active scan definition of defender.scan_coverage.
type Coverage struct {
	Scan, Target             string
	LastSuccess, LastFailure *time.Time
	ConsecutiveFailures      int
	// Scanner is the host name of the scan agent, else its id.
	Scanner string
	// ScannerStale and ScannerDeleted are nil when the agent is unknown.
	ScannerStale, ScannerDeleted *bool
}

// Read reads a report's snapshot from db in one read-only REPEATABLE READ
// transaction, through the documented views only.
func Read(ctx context.Context, db DB, opt Options) (*Snapshot, error) {
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	if opt.From.IsZero() {
		opt.From = opt.Now.Add(-DefaultPeriod)
	}
	if opt.MaxRows <= 0 {
		opt.MaxRows = DefaultMaxRows
	}
	s := &Snapshot{
		GeneratedAt: opt.Now.UTC(), From: opt.From.UTC(),
		Tenant:  strings.ToLower(strings.TrimSpace(opt.Tenant)),
		MaxRows: opt.MaxRows,
	}
	err := readOnly(ctx, db, func(tx pgx.Tx) error {
		var hasViews bool
		if err := tx.QueryRow(ctx, `
			SELECT to_regclass('defender.fleet_daily') IS NOT NULL,
			       to_regclass('defender.scan_coverage') IS NOT NULL`).Scan(&hasViews, &s.HasScanCoverage); err != nil {
			return fmt.Errorf("look for the reporting views: %w", err)
		}
		if !hasViews {
			return ErrNoSchema
		}
		ids, err := collect(ctx, tx, func(r pgx.Rows) (string, error) {
			var id string
			return id, r.Scan(&id)
		}, `SELECT DISTINCT tenant_id FROM defender.sync_runs WHERE $1 = '' OR tenant_id = $1 ORDER BY tenant_id`, s.Tenant)
		if err != nil {
			return fmt.Errorf("list tenants: %w", err)
		}
		if s.Tenant != "" && len(ids) == 0 {
			return fmt.Errorf("tenant %q: %w", s.Tenant, ErrUnknownTenant)
		}
		for _, id := range ids {
			t, err := readTenant(ctx, tx, s, id)
			if err != nil {
				return fmt.Errorf("tenant %s: %w", id, err)
			}
			s.Tenants = append(s.Tenants, *t)
		}
		if s.Versions, err = collect(ctx, tx, func(r pgx.Rows) (string, error) {
			var v string
			return v, r.Scan(&v)
		}, `
			SELECT v.version
			  FROM (SELECT DISTINCT jsonb_object_keys(mde_client_versions) AS version
			          FROM defender.fleet_daily WHERE ($1 = '' OR tenant_id = $1) AND day >= defender.utc_day($2)) v
			 ORDER BY defender.version_key(v.version) NULLS FIRST, v.version`, s.Tenant, s.From); err != nil {
			return fmt.Errorf("versions: %w", err)
		}
		sortWorstFirst(s.Tenants)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// readTenant reads the parts of one tenant's report.
func readTenant(ctx context.Context, tx pgx.Tx, s *Snapshot, id string) (*Tenant, error) {
	t := &Tenant{ID: id}
	from, limit := s.From, s.MaxRows
	err := tx.QueryRow(ctx, `
		SELECT coalesce((SELECT tenant_name FROM defender.fleet_daily WHERE tenant_id = $1 ORDER BY day DESC LIMIT 1), ''),
		       count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed'),
		       count(*) FILTER (WHERE status = 'running')
		  FROM defender.sync_runs WHERE tenant_id = $1 AND resource = 'agents' AND started_at >= $2`, id, from).
		Scan(&t.Name, &t.Succeeded, &t.Failed, &t.Running)
	if err != nil {
		return nil, fmt.Errorf("runs: %w", err)
	}
	const succeeded = `SELECT run_id, status, fetched_at FROM defender.sync_runs
		 WHERE tenant_id = $1 AND resource = 'agents' AND status = 'succeeded' AND started_at >= $2 ORDER BY fetched_at `
	for _, q := range []struct {
		dst   **Run
		query string
		args  []any
	}{
		{&t.FirstSync, succeeded + `LIMIT 1`, []any{id, from}},
		{&t.LastSync, succeeded + `DESC LIMIT 1`, []any{id, from}},
		{&t.LatestSuccess, `SELECT run_id, status, fetched_at FROM defender.sync_runs
		  WHERE tenant_id = $1 AND resource = 'agents' AND status = 'succeeded' ORDER BY fetched_at DESC LIMIT 1`, []any{id}},
		{&t.Latest, `SELECT run_id, status, coalesce(fetched_at, started_at) FROM defender.sync_runs
		  WHERE tenant_id = $1 AND resource = 'agents' ORDER BY run_id DESC LIMIT 1`, []any{id}},
	} {
		var r Run
		switch err := tx.QueryRow(ctx, q.query, q.args...).Scan(&r.ID, &r.Status, &r.At); {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return nil, fmt.Errorf("runs: %w", err)
		default:
			r.At = r.At.UTC()
			*q.dst = &r
		}
	}

	if t.Days, err = collect(ctx, tx, func(r pgx.Rows) (FleetDay, error) {
		var d FleetDay
		var newest *string
		d.AsOf.Status = "succeeded"
		err := r.Scan(&d.Day, &d.Active, &d.Stale7d, &d.NeverSeen, &newest, &d.OnNewest, &d.Versions, &d.Syncs, &d.AsOf.ID, &d.AsOf.At)
		if newest != nil {
			d.Newest = *newest
		}
		return d, err
	}, `
		SELECT day, active_agents, stale_7d_agents, never_seen_agents, newest_mde_client_version,
		       agents_on_newest, mde_client_versions, syncs, as_of_run_id, as_of_fetched_at
		  FROM defender.fleet_daily
		 WHERE tenant_id = $1 AND day >= defender.utc_day($2)
		 ORDER BY day`, id, from); err != nil {
		return nil, fmt.Errorf("fleet per day: %w", err)
	}
	if t.Versions, err = collect(ctx, tx, func(r pgx.Rows) (string, error) {
		var v string
		return v, r.Scan(&v)
	}, `
		SELECT v.version
		  FROM (SELECT DISTINCT jsonb_object_keys(mde_client_versions) AS version
		          FROM defender.fleet_daily WHERE tenant_id = $1 AND day >= defender.utc_day($2)) v
		 ORDER BY defender.version_key(v.version) NULLS FIRST, v.version`, id, from); err != nil {
		return nil, fmt.Errorf("versions: %w", err)
	}

	if t.SyncDays, err = collect(ctx, tx, func(r pgx.Rows) (SyncDay, error) {
		var d SyncDay
		return d, r.Scan(&d.Day, &d.Succeeded, &d.Failed, &d.Running)
	}, `
		SELECT defender.utc_day(started_at) AS day,
		       count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed'),
		       count(*) FILTER (WHERE status = 'running')
		  FROM defender.sync_runs WHERE tenant_id = $1 AND resource = 'agents' AND started_at >= $2
		 GROUP BY 1 ORDER BY 1`, id, from); err != nil {
		return nil, fmt.Errorf("runs per day: %w", err)
	}
	t.FailuresTotal = t.Failed
	if t.Failures, err = collect(ctx, tx, func(r pgx.Rows) (FailedRun, error) {
		var f FailedRun
		return f, r.Scan(&f.RunID, &f.StartedAt, &f.Error)
	}, `
		SELECT run_id, started_at, coalesce(error, '')
		  FROM defender.sync_runs WHERE tenant_id = $1 AND resource = 'agents' AND status = 'failed' AND started_at >= $2
		 ORDER BY run_id DESC LIMIT $3`, id, from, limit); err != nil {
		return nil, fmt.Errorf("failed runs: %w", err)
	}

	if t.ChangeKinds, err = collect(ctx, tx, func(r pgx.Rows) (ChangeKind, error) {
		var k ChangeKind
		return k, r.Scan(&k.Attribute, &k.Change, &k.Count)
	}, `
		SELECT attribute, CASE WHEN attribute = 'agent' THEN coalesce(new_value, '') ELSE 'changed' END, count(*)
		  FROM defender.scan_agent_changes WHERE tenant_id = $1 AND changed_at >= $2
		 GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2`, id, from); err != nil {
		return nil, fmt.Errorf("count changes: %w", err)
	}
	for _, k := range t.ChangeKinds {
		t.ChangesTotal += k.Count
	}
	if t.Changes, err = collect(ctx, tx, func(r pgx.Rows) (Change, error) {
		var c Change
		return c, r.Scan(&c.ChangedAt, &c.PreviousSyncAt, &c.AgentID, &c.Host, &c.Attribute, &c.Old, &c.New, &c.RunID)
	}, `
		SELECT c.changed_at, c.previous_sync_at, c.agent_id, coalesce(a.computer_dns_name, ''),
		       c.attribute, c.old_value, c.new_value, c.run_id
		  FROM defender.scan_agent_changes c
		  LEFT JOIN defender.scan_agents a ON a.tenant_id = c.tenant_id AND a.agent_id = c.agent_id
		 WHERE c.tenant_id = $1 AND c.changed_at >= $2
		 ORDER BY c.changed_at DESC, c.run_id DESC, a.computer_dns_name, c.agent_id, c.attribute
		 LIMIT $3`, id, from, limit); err != nil {
		return nil, fmt.Errorf("changes: %w", err)
	}

	if t.LatestSuccess != nil {
		// Stale as the latest sync saw the fleet, as fleet_daily counts
		// it: judged against the data, not the clock.
		const stale = `tenant_id = $1 AND deleted_at IS NULL AND (last_seen IS NULL OR last_seen <= $2::timestamptz - interval '7 days')`
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM defender.scan_agents WHERE `+stale,
			id, t.LatestSuccess.At).Scan(&t.StaleTotal); err != nil {
			return nil, fmt.Errorf("count stale agents: %w", err)
		}
		if t.Stale, err = collect(ctx, tx, func(r pgx.Rows) (StaleAgent, error) {
			var a StaleAgent
			return a, r.Scan(&a.AgentID, &a.Host, &a.LastSeen, &a.Version, &a.FirstSeenAt)
		}, `
			SELECT agent_id, coalesce(computer_dns_name, ''), last_seen, coalesce(mde_client_version, ''), first_seen_at
			  FROM defender.scan_agents WHERE `+stale+`
			 ORDER BY last_seen NULLS FIRST, computer_dns_name, agent_id LIMIT $3`, id, t.LatestSuccess.At, limit); err != nil {
			return nil, fmt.Errorf("stale agents: %w", err)
		}
	}

	if t.Withheld, err = collect(ctx, tx, func(r pgx.Rows) (WithheldRun, error) {
		var w WithheldRun
		return w, r.Scan(&w.RunID, &w.FetchedAt, &w.Seen, &w.Withheld)
	}, `
		SELECT run_id, fetched_at, agents_seen, deletions_withheld
		  FROM defender.sync_runs
		 WHERE tenant_id = $1 AND resource = 'agents' AND status = 'succeeded' AND started_at >= $2 AND deletions_withheld > 0
		 ORDER BY run_id DESC`, id, from); err != nil {
		return nil, fmt.Errorf("withheld deletions: %w", err)
	}

	if s.HasScanCoverage {
		if t.Coverage, err = collect(ctx, tx, func(r pgx.Rows) (Coverage, error) {
			var c Coverage
			return c, r.Scan(&c.Scan, &c.Target, &c.LastSuccess, &c.LastFailure, &c.ConsecutiveFailures,
				&c.Scanner, &c.ScannerStale, &c.ScannerDeleted)
		}, `
			SELECT coalesce(scan_name, definition_id::text), coalesce(target::text, ''), last_success_at, last_failure_at,
			       coalesce(consecutive_failures, 0), coalesce(scanner_host, scanner_agent_id, ''),
			       scanner_stale, scanner_deleted
			  FROM defender.scan_coverage WHERE tenant_id = $1
			 ORDER BY consecutive_failures DESC NULLS LAST, last_success_at NULLS FIRST, 1`, id); err != nil {
			return nil, fmt.Errorf("scan coverage: %w", err)
		}
	}
	return t, nil
}

// collect runs query and reads each row with scan.
func collect[T any](ctx context.Context, tx pgx.Tx, scan func(pgx.Rows) (T, error), query string, args ...any) ([]T, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
