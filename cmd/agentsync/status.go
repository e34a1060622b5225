package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/internal/safetext"
	"github.com/agentsync/agentsync/schedule"
	"github.com/agentsync/agentsync/tenants"
)

// tenantStatus is one row of agentsync status, from
// defender.tenant_sync_status.
type tenantStatus struct {
	Tenant            string     `json:"tenant_id"`
	Name              string     `json:"tenant_name,omitempty"`
	Configured        bool       `json:"configured"`
	LatestStatus      string     `json:"latest_status,omitempty"`
	LastSuccessRunID  *int64     `json:"last_success_run_id,omitempty"`
	LastSuccessAt     *time.Time `json:"last_success_at,omitempty"`
	LastSuccessAge    string     `json:"last_success_age,omitempty"`
	LastFailureRunID  *int64     `json:"last_failure_run_id,omitempty"`
	LastFailureAt     *time.Time `json:"last_failure_at,omitempty"`
	LastFailureError  string     `json:"last_failure_error,omitempty"`
	ActiveAgents      int        `json:"active_agents"`
	StaleAgents       int        `json:"stale_7d_agents"`
	DeletionsWithheld int        `json:"deletions_withheld"`
	RunningSince      *time.Time `json:"running_since,omitempty"`
	// Problem says why the tenant makes status exit 1; empty when fine.
	Problem string `json:"problem,omitempty"`
}

func runStatus(ctx context.Context, a *app, args []string) int {
	fs := a.newFlagSet("status", "",
		"Prints, per tenant stored in the database, how its syncs go: its display name, its last\n"+
			"successful sync and how old it is, its last failure and why, its active and stale (7\n"+
			"days) agents and the deletions withheld. Exits 1 when a configured tenant's latest sync\n"+
			"failed, or none of its syncs succeeded within two periods of SYNC_SCHEDULE: a check for\n"+
			"cron and monitoring. The configured tenants are those of DEFENDER_TENANT_ID or\n"+
			"DEFENDER_TENANTS_FILE (no credentials needed); without either, every stored tenant.")
	var db databaseSettings
	var logs logSettings
	var def defenderSettings
	var schedule string
	var asJSON bool
	db.register(fs)
	fs.String(&def.TenantID, "tenant-id", "DEFENDER_TENANT_ID", "", "the configured tenant `ids`, separated by commas")
	fs.String(&def.TenantsFile, "tenants-file", "DEFENDER_TENANTS_FILE", "", "`path` of the tenants file")
	fs.String(&schedule, "schedule", "SYNC_SCHEDULE", "@hourly", "the daemon's schedule, a `cron-spec`: a tenant with no success within two of its periods is overdue")
	fs.Bool(&asJSON, "json", "", "print one JSON object per tenant instead of a table")
	logs.register(fs)
	if code, done := fs.parseFlagsOnly(args); done {
		return code
	}
	logger, err := newLogger(a.stderr, logs)
	if err != nil {
		return fs.fail(err)
	}
	if err := db.check(a.getenv); err != nil {
		return fs.fail(err)
	}
	period, err := schedulePeriod(schedule)
	if err != nil {
		return fs.fail(err)
	}
	configured, err := configuredIDs(def)
	if err != nil {
		return fs.fail(err)
	}

	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	defer stop()
	pool, err := openPool(ctx, db.URL, logger)
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync status: %s\n", errorText(err))
		return exitFailure
	}
	defer pool.Close()
	statuses, err := readTenantStatuses(ctx, pool)
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync status: %s\n", errorText(err))
		return exitFailure
	}
	now := time.Now()
	statuses = judge(statuses, configured, now, period)
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		for _, s := range statuses {
			if err := enc.Encode(s); err != nil {
				return exitFailure
			}
		}
	} else {
		printStatusTable(a.stdout, statuses, now)
	}
	for _, s := range statuses {
		if s.Problem != "" {
			return exitFailure
		}
	}
	return exitOK
}

// readTenantStatuses reads defender.tenant_sync_status, one row per
// stored tenant.
func readTenantStatuses(ctx context.Context, pool *pgxpool.Pool) ([]tenantStatus, error) {
	rows, err := pool.Query(ctx, `
		SELECT tenant_id, coalesce(tenant_name, ''), coalesce(latest_status, ''), last_success_run_id, last_success_at,
		       last_failure_run_id, last_failure_at, coalesce(last_failure_error, ''),
		       active_agents, stale_7d_agents, deletions_withheld, running_since
		  FROM defender.tenant_sync_status
		 ORDER BY tenant_id`)
	if err != nil {
		return nil, fmt.Errorf("read defender.tenant_sync_status: %w", err)
	}
	statuses, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tenantStatus, error) {
		var s tenantStatus
		err := r.Scan(&s.Tenant, &s.Name, &s.LatestStatus, &s.LastSuccessRunID, &s.LastSuccessAt,
			&s.LastFailureRunID, &s.LastFailureAt, &s.LastFailureError,
			&s.ActiveAgents, &s.StaleAgents, &s.DeletionsWithheld, &s.RunningSince)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("read defender.tenant_sync_status: %w", err)
	}
	return statuses, nil
}

// configuredIDs returns the lower-case ids of the configured tenants, nil
// when none is configured (every stored tenant is then judged).
func configuredIDs(def defenderSettings) ([]string, error) {
	if def.TenantID == "" && def.TenantsFile == "" {
		return nil, nil
	}
	// Credentials do not matter here: placeholders let the tenants load.
	ts, err := tenants.Load(tenants.Defaults{TenantIDs: def.TenantID, ClientID: "status", ClientSecret: "status"}, def.TenantsFile)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, t := range tenants.Enabled(ts) {
		ids = append(ids, strings.ToLower(t.ID))
	}
	return ids, nil
}

// schedulePeriod is the time between two runs of spec, taken around now.
func schedulePeriod(spec string) (time.Duration, error) {
	s, err := schedule.Parse(spec)
	if err != nil {
		return 0, err
	}
	first := s.Next(time.Now())
	return s.Next(first).Sub(first), nil
}

// judge marks the problem of each tenant that counts: the configured ones
// (every stored one when none is configured). A configured tenant never
// synced gets a row of its own.
func judge(statuses []tenantStatus, configured []string, now time.Time, period time.Duration) []tenantStatus {
	counts := map[string]bool{}
	for _, id := range configured {
		counts[id] = true
	}
	seen := map[string]bool{}
	for i := range statuses {
		s := &statuses[i]
		seen[s.Tenant] = true
		s.Configured = configured == nil || counts[s.Tenant]
		if s.LastSuccessAt != nil {
			s.LastSuccessAge = now.Sub(*s.LastSuccessAt).Round(time.Second).String()
		}
		s.LastFailureError = safetext.Text(s.LastFailureError)
		if !s.Configured {
			continue
		}
		switch {
		case s.LatestStatus == "failed":
			s.Problem = fmt.Sprintf("the latest sync (run %d) failed", *s.LastFailureRunID)
		case s.LastSuccessAt == nil:
			s.Problem = "never synced successfully"
		case now.Sub(*s.LastSuccessAt) > 2*period:
			s.Problem = fmt.Sprintf("no successful sync for %s, more than two schedule periods (%s)",
				now.Sub(*s.LastSuccessAt).Round(time.Minute), period)
		}
	}
	for _, id := range configured {
		if !seen[id] {
			statuses = append(statuses, tenantStatus{Tenant: id, Configured: true, Problem: "never synced"})
		}
	}
	return statuses
}

func printStatusTable(w io.Writer, statuses []tenantStatus, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tNAME\tLAST SUCCESS\tAGE\tLAST FAILURE\tACTIVE\tSTALE 7D\tWITHHELD\tSTATUS")
	for _, s := range statuses {
		success, age, failure := "-", "-", "-"
		if s.LastSuccessAt != nil {
			success = s.LastSuccessAt.UTC().Format("2006-01-02 15:04")
			age = now.Sub(*s.LastSuccessAt).Round(time.Minute).String()
		}
		if s.LastFailureAt != nil {
			failure = s.LastFailureAt.UTC().Format("2006-01-02 15:04") + ": " + safetext.Cut(s.LastFailureError, 60)
		}
		state := "ok"
		switch {
		case s.Problem != "":
			state = s.Problem
		case !s.Configured:
			state = "not configured (data kept)"
		}
		// Names come from a tenants file and ids from the database: their
		// control characters show as escapes, never act on the terminal.
		name := safetext.Escape(s.Name)
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", safetext.Escape(s.Tenant), name, success, age, failure,
			s.ActiveAgents, s.StaleAgents, s.DeletionsWithheld, state)
	}
	tw.Flush()
}
