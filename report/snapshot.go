package report

import (
	"context"
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
	// ChainHeads are the tenant's latest run digests, one per resource:
	// what an auditor keeps to tell later whether the history was edited.
	ChainHeads []ChainHead

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
			known, err := collect(ctx, tx, func(r pgx.Rows) (string, error) {
				var id, name string
				if err := r.Scan(&id, &name); err != nil || name == "" {
					return id, err
				}
				return id + " (" + name + ")", nil
			}, `SELECT tenant_id, coalesce(tenant_name, '') FROM defender.tenant_sync_status ORDER BY tenant_id`)
			if err != nil {
				return fmt.Errorf("list tenants: %w", err)
			}
			return &UnknownTenantError{Tenant: s.Tenant, Known: known}
		}
		s.Tenants = make([]Tenant, len(ids))
		for i, id := range ids {
			s.Tenants[i].ID = id
		}
		if err := readTenants(ctx, tx, s, ids); err != nil {
			return err
		}
		sortVersions(s)
		sortWorstFirst(s.Tenants)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// The statements of a report, each for every tenant of the report at once
// ($1, their ids), so that a report of three hundred tenants costs as many
// statements as one of a single tenant. $2 is the start of the period;
// those that list take the bound of each tenant's list as $3 (staleQuery
// differs: see there).
const (
	// namesQuery names the tenants that had no day in the period (the
	// others are named by fleetDaysQuery).
	namesQuery = `
		SELECT DISTINCT ON (tenant_id) tenant_id, coalesce(tenant_name, '')
		  FROM defender.fleet_daily WHERE tenant_id = ANY ($1)
		 ORDER BY tenant_id, day DESC`
	runCountsQuery = `
		SELECT tenant_id, count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed'),
		       count(*) FILTER (WHERE status = 'running')
		  FROM defender.sync_runs WHERE tenant_id = ANY ($1) AND resource = 'agents' AND started_at >= $2
		 GROUP BY tenant_id`
	// periodSuccesses are the first and the last successful run of each
	// tenant in the period; latestRuns its latest successful run and its
	// latest run.
	periodSuccessesQuery = `
		SELECT DISTINCT ON (tenant_id) tenant_id, run_id, status, fetched_at
		  FROM defender.sync_runs
		 WHERE tenant_id = ANY ($1) AND resource = 'agents' AND status = 'succeeded' AND started_at >= $2
		 ORDER BY tenant_id, fetched_at %s`
	latestSuccessQuery = `
		SELECT DISTINCT ON (tenant_id) tenant_id, run_id, status, fetched_at
		  FROM defender.sync_runs WHERE tenant_id = ANY ($1) AND resource = 'agents' AND status = 'succeeded'
		 ORDER BY tenant_id, fetched_at DESC`
	latestRunQuery = `
		SELECT DISTINCT ON (tenant_id) tenant_id, run_id, status, coalesce(fetched_at, started_at)
		  FROM defender.sync_runs WHERE tenant_id = ANY ($1) AND resource = 'agents'
		 ORDER BY tenant_id, run_id DESC`
	fleetDaysQuery = `
		SELECT tenant_id, day, active_agents, stale_7d_agents, never_seen_agents, newest_mde_client_version,
		       agents_on_newest, mde_client_versions, syncs, as_of_run_id, as_of_fetched_at, coalesce(tenant_name, '')
		  FROM defender.fleet_daily
		 WHERE tenant_id = ANY ($1) AND day >= defender.utc_day($2)
		 ORDER BY tenant_id, day`
	syncDaysQuery = `
		SELECT tenant_id, defender.utc_day(started_at) AS day,
		       count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed'),
		       count(*) FILTER (WHERE status = 'running')
		  FROM defender.sync_runs WHERE tenant_id = ANY ($1) AND resource = 'agents' AND started_at >= $2
		 GROUP BY 1, 2 ORDER BY 1, 2`
	failuresQuery = `
		SELECT tenant_id, run_id, started_at, error
		  FROM (SELECT tenant_id, run_id, started_at, coalesce(error, '') AS error,
		               row_number() OVER (PARTITION BY tenant_id ORDER BY run_id DESC) AS n
		          FROM defender.sync_runs
		         WHERE tenant_id = ANY ($1) AND resource = 'agents' AND status = 'failed' AND started_at >= $2) f
		 WHERE n <= $3 ORDER BY tenant_id, run_id DESC`
	// changesQuery reads the period's changes once, for two kinds of
	// rows: their count by kind ('kind': attribute, change, count), and the
	// latest $3 of each tenant ('change': the rest).
	changesQuery = `
		WITH c AS MATERIALIZED (
		    SELECT tenant_id, changed_at, previous_sync_at, agent_id, attribute, old_value, new_value, run_id
		      FROM defender.scan_agent_changes WHERE tenant_id = ANY ($1) AND changed_at >= $2
		), latest AS (
		    SELECT * FROM (SELECT c.*, row_number() OVER (PARTITION BY tenant_id ORDER BY changed_at DESC, run_id DESC, agent_id, attribute) AS n
		                     FROM c) l
		     WHERE n <= $3
		)
		SELECT tenant_id, 'kind', attribute, CASE WHEN attribute = 'agent' THEN coalesce(new_value, '') ELSE 'changed' END,
		       count(*), NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::text, NULL::text, NULL::text, NULL::bigint
		  FROM c GROUP BY 1, 3, 4
		UNION ALL
		SELECT l.tenant_id, 'change', l.attribute, NULL, NULL, l.changed_at, l.previous_sync_at, l.agent_id,
		       coalesce(a.computer_dns_name, ''), l.old_value, l.new_value, l.run_id
		  FROM latest l
		  LEFT JOIN defender.scan_agents a ON a.tenant_id = l.tenant_id AND a.agent_id = l.agent_id
		 ORDER BY 1, 2 DESC, 5 DESC, 6 DESC, 12 DESC, 9, 8, 3, 4`
	// staleQuery lists, per tenant, the active agents not seen for 7 days
	// or more before its latest successful sync ($3, in the order of $1),
	// or never seen: stale as the latest sync saw the fleet, as
	// fleet_daily counts it, judged against the data and not the clock.
	staleQuery = `
		SELECT tenant_id, total, agent_id, host, last_seen, version, first_seen_at
		  FROM (SELECT a.tenant_id, count(*) OVER w AS total, a.agent_id, coalesce(a.computer_dns_name, '') AS host,
		               a.last_seen, coalesce(a.mde_client_version, '') AS version, a.first_seen_at,
		               row_number() OVER (w ORDER BY a.last_seen NULLS FIRST, a.computer_dns_name, a.agent_id) AS n
		          FROM unnest($1::text[], $3::timestamptz[]) AS ref (tenant_id, at)
		          JOIN defender.scan_agents a ON a.tenant_id = ref.tenant_id
		         WHERE a.deleted_at IS NULL AND (a.last_seen IS NULL OR a.last_seen <= ref.at - interval '7 days')
		        WINDOW w AS (PARTITION BY a.tenant_id)) s
		 WHERE n <= $2 ORDER BY tenant_id, n`
	withheldQuery = `
		SELECT tenant_id, run_id, fetched_at, agents_seen, deletions_withheld
		  FROM defender.sync_runs
		 WHERE tenant_id = ANY ($1) AND resource = 'agents' AND status = 'succeeded' AND started_at >= $2 AND deletions_withheld > 0
		 ORDER BY tenant_id, run_id DESC`
	coverageQuery = `
		SELECT tenant_id, coalesce(scan_name, definition_id::text), coalesce(target::text, ''), last_success_at, last_failure_at,
		       coalesce(consecutive_failures, 0), coalesce(scanner_host, scanner_agent_id, ''),
		       scanner_stale, scanner_deleted
		  FROM defender.scan_coverage WHERE tenant_id = ANY ($1)
		 ORDER BY tenant_id, consecutive_failures DESC NULLS LAST, last_success_at NULLS FIRST, 2`
)

// readTenants reads the parts of the report of the tenants ids, whose
// Tenant of s.Tenants (in the same order) has only its id yet.
func readTenants(ctx context.Context, tx pgx.Tx, s *Snapshot, ids []string) error {
	byID := make(map[string]*Tenant, len(ids))
	for i := range s.Tenants {
		byID[s.Tenants[i].ID] = &s.Tenants[i]
	}
	from, limit := s.From, s.MaxRows
	// each runs query, reads each row with scan, which returns the row's
	// tenant and what to add to it, and adds it.
	each := func(what, query string, scan func(pgx.Rows) (string, func(*Tenant), error), args ...any) error {
		rows, err := tx.Query(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			id, add, err := scan(rows)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			t := byID[id]
			if t == nil {
				return fmt.Errorf("%s: a row of tenant %q, which was not asked for", what, id)
			}
			add(t)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	run := func(dst func(*Tenant) **Run) func(pgx.Rows) (string, func(*Tenant), error) {
		return func(r pgx.Rows) (string, func(*Tenant), error) {
			var id string
			var run Run
			err := r.Scan(&id, &run.ID, &run.Status, &run.At)
			run.At = run.At.UTC()
			return id, func(t *Tenant) { *dst(t) = &run }, err
		}
	}
	steps := []struct {
		what, query string
		scan        func(pgx.Rows) (string, func(*Tenant), error)
		args        []any
	}{
		{"runs", runCountsQuery, func(r pgx.Rows) (string, func(*Tenant), error) {
			var id string
			var ok, failed, running int
			err := r.Scan(&id, &ok, &failed, &running)
			return id, func(t *Tenant) { t.Succeeded, t.Failed, t.Running, t.FailuresTotal = ok, failed, running, failed }, err
		}, []any{ids, from}},
		{"first sync", fmt.Sprintf(periodSuccessesQuery, "ASC"), run(func(t *Tenant) **Run { return &t.FirstSync }), []any{ids, from}},
		{"last sync", fmt.Sprintf(periodSuccessesQuery, "DESC"), run(func(t *Tenant) **Run { return &t.LastSync }), []any{ids, from}},
		{"latest success", latestSuccessQuery, run(func(t *Tenant) **Run { return &t.LatestSuccess }), []any{ids}},
		{"latest run", latestRunQuery, run(func(t *Tenant) **Run { return &t.Latest }), []any{ids}},
		{"fleet per day", fleetDaysQuery, func(r pgx.Rows) (string, func(*Tenant), error) {
			var id, name string
			var d FleetDay
			var newest *string
			d.AsOf.Status = "succeeded"
			err := r.Scan(&id, &d.Day, &d.Active, &d.Stale7d, &d.NeverSeen, &newest, &d.OnNewest, &d.Versions, &d.Syncs, &d.AsOf.ID, &d.AsOf.At, &name)
			if newest != nil {
				d.Newest = *newest
			}
			// The latest day's name is the tenant's.
			return id, func(t *Tenant) { t.Days, t.Name = append(t.Days, d), name }, err
		}, []any{ids, from}},
		{"runs per day", syncDaysQuery, func(r pgx.Rows) (string, func(*Tenant), error) {
			var id string
			var d SyncDay
			err := r.Scan(&id, &d.Day, &d.Succeeded, &d.Failed, &d.Running)
			return id, func(t *Tenant) { t.SyncDays = append(t.SyncDays, d) }, err
		}, []any{ids, from}},
		{"failed runs", failuresQuery, func(r pgx.Rows) (string, func(*Tenant), error) {
			var id string
			var f FailedRun
			err := r.Scan(&id, &f.RunID, &f.StartedAt, &f.Error)
			return id, func(t *Tenant) { t.Failures = append(t.Failures, f) }, err
		}, []any{ids, from, limit}},
		{"changes", changesQuery, func(r pgx.Rows) (string, func(*Tenant), error) {
			var id, kind, attribute string
			var change *string
			var count *int
			var c Change
			var changedAt *time.Time
			var agentID, host *string
			var runID *int64
			err := r.Scan(&id, &kind, &attribute, &change, &count, &changedAt, &c.PreviousSyncAt, &agentID, &host, &c.Old, &c.New, &runID)
			if err != nil {
				return "", nil, err
			}
			if kind == "kind" {
				k := ChangeKind{Attribute: attribute, Change: *change, Count: *count}
				return id, func(t *Tenant) { t.ChangeKinds = append(t.ChangeKinds, k); t.ChangesTotal += k.Count }, nil
			}
			c.Attribute, c.ChangedAt, c.AgentID, c.Host, c.RunID = attribute, *changedAt, *agentID, *host, *runID
			return id, func(t *Tenant) { t.Changes = append(t.Changes, c) }, nil
		}, []any{ids, from, limit}},
		{"chain heads", chainHeadsQuery, func(r pgx.Rows) (string, func(*Tenant), error) {
			var id string
			var h ChainHead
			err := r.Scan(&id, &h.Resource, &h.RunID, &h.FetchedAt, &h.Digest, &h.ComputedAtUpgrade)
			h.FetchedAt = h.FetchedAt.UTC()
			return id, func(t *Tenant) { t.ChainHeads = append(t.ChainHeads, h) }, err
		}, []any{ids, nil}},
		{"withheld deletions", withheldQuery, func(r pgx.Rows) (string, func(*Tenant), error) {
			var id string
			var w WithheldRun
			err := r.Scan(&id, &w.RunID, &w.FetchedAt, &w.Seen, &w.Withheld)
			return id, func(t *Tenant) { t.Withheld = append(t.Withheld, w) }, err
		}, []any{ids, from}},
	}
	if s.HasScanCoverage {
		steps = append(steps, struct {
			what, query string
			scan        func(pgx.Rows) (string, func(*Tenant), error)
			args        []any
		}{"scan coverage", coverageQuery, func(r pgx.Rows) (string, func(*Tenant), error) {
			var id string
			var c Coverage
			err := r.Scan(&id, &c.Scan, &c.Target, &c.LastSuccess, &c.LastFailure, &c.ConsecutiveFailures,
				&c.Scanner, &c.ScannerStale, &c.ScannerDeleted)
			return id, func(t *Tenant) { t.Coverage = append(t.Coverage, c) }, err
		}, []any{ids}})
	}
	for _, st := range steps {
		if err := each(st.what, st.query, st.scan, st.args...); err != nil {
			return err
		}
	}

	// The stale agents of each tenant, against its latest successful sync,
	// once that is known.
	var staleIDs []string
	var staleAt []time.Time
	for i := range s.Tenants {
		if t := &s.Tenants[i]; t.LatestSuccess != nil {
			staleIDs, staleAt = append(staleIDs, t.ID), append(staleAt, t.LatestSuccess.At)
		}
	}
	if err := each("stale agents", staleQuery, func(r pgx.Rows) (string, func(*Tenant), error) {
		var id string
		var total int
		var a StaleAgent
		err := r.Scan(&id, &total, &a.AgentID, &a.Host, &a.LastSeen, &a.Version, &a.FirstSeenAt)
		return id, func(t *Tenant) { t.Stale, t.StaleTotal = append(t.Stale, a), total }, err
	}, staleIDs, limit, staleAt); err != nil {
		return err
	}

	// The names of the tenants without a day in the period.
	var unnamed []string
	for _, t := range s.Tenants {
		if len(t.Days) == 0 {
			unnamed = append(unnamed, t.ID)
		}
	}
	if len(unnamed) == 0 {
		return nil
	}
	return each("names", namesQuery, func(r pgx.Rows) (string, func(*Tenant), error) {
		var id, name string
		err := r.Scan(&id, &name)
		return id, func(t *Tenant) { t.Name = name }, err
	}, unnamed)
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
