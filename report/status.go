package report

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentsync/agentsync/internal/safetext"
)

// TenantStatus is how one tenant's syncs go, a row of
// defender.tenant_sync_status as agentsync status shows it.
type TenantStatus struct {
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
	// Problem says why the tenant needs attention (agentsync status exits
	// 1); empty when fine. JudgeStatuses sets it.
	Problem string `json:"problem,omitempty"`
}

// ReadTenantStatuses reads defender.tenant_sync_status, one row per stored
// tenant, ordered by tenant id.
func ReadTenantStatuses(ctx context.Context, db DB) ([]TenantStatus, error) {
	var statuses []TenantStatus
	err := readOnly(ctx, db, func(tx pgx.Tx) error {
		var err error
		statuses, err = collect(ctx, tx, func(r pgx.Rows) (TenantStatus, error) {
			var s TenantStatus
			err := r.Scan(&s.Tenant, &s.Name, &s.LatestStatus, &s.LastSuccessRunID, &s.LastSuccessAt,
				&s.LastFailureRunID, &s.LastFailureAt, &s.LastFailureError,
				&s.ActiveAgents, &s.StaleAgents, &s.DeletionsWithheld, &s.RunningSince)
			return s, err
		}, `
			SELECT tenant_id, coalesce(tenant_name, ''), coalesce(latest_status, ''), last_success_run_id, last_success_at,
			       last_failure_run_id, last_failure_at, coalesce(last_failure_error, ''),
			       active_agents, stale_7d_agents, deletions_withheld, running_since
			  FROM defender.tenant_sync_status
			 ORDER BY tenant_id`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read defender.tenant_sync_status: %w", err)
	}
	return statuses, nil
}

// JudgeStatuses marks the problem of each tenant that counts: the
// configured ones (lower-case ids; every stored one when configured is
// nil). A configured tenant's latest sync failed, or none succeeded, or
// none within two schedule periods before now. A configured tenant never
// synced gets a row of its own. Failure errors are made safe to print.
func JudgeStatuses(statuses []TenantStatus, configured []string, now time.Time, period time.Duration) []TenantStatus {
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
			s.LastSuccessAge = successAge(now, *s.LastSuccessAt)
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
				s.LastSuccessAge, period)
		}
	}
	for _, id := range configured {
		if !seen[id] {
			statuses = append(statuses, TenantStatus{Tenant: id, Configured: true, Problem: "never synced"})
		}
	}
	return statuses
}

// successAge is how long before now a tenant's last success was, as both
// the table and the JSON of agentsync status show it: whole seconds, so
// that the two agree at the same moment.
func successAge(now, at time.Time) string {
	return now.Sub(at).Round(time.Second).String()
}

// WriteStatusTable writes the statuses as a text table, ages taken at now
// unless JudgeStatuses gave them (then the table shows the same ages as
// the statuses' JSON).
func WriteStatusTable(w io.Writer, statuses []TenantStatus, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tNAME\tLAST SUCCESS\tAGE\tLAST FAILURE\tACTIVE\tSTALE 7D\tWITHHELD\tSTATUS")
	for _, s := range statuses {
		success, age, failure := "-", "-", "-"
		if s.LastSuccessAt != nil {
			success = s.LastSuccessAt.UTC().Format("2006-01-02 15:04")
			age = s.LastSuccessAge
			if age == "" {
				age = successAge(now, *s.LastSuccessAt)
			}
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
	return tw.Flush()
}
