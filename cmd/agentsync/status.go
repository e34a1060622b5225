package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/signal"
	"strings"
	"time"

	"github.com/agentsync/agentsync/report"
	"github.com/agentsync/agentsync/schedule"
	"github.com/agentsync/agentsync/tenants"
)

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
	statuses, err := report.ReadTenantStatuses(ctx, pool)
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync status: %s\n", errorText(err))
		return exitFailure
	}
	now := time.Now()
	statuses = report.JudgeStatuses(statuses, configured, now, period)
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		for _, s := range statuses {
			if err := enc.Encode(s); err != nil {
				return exitFailure
			}
		}
	} else if err := report.WriteStatusTable(a.stdout, statuses, now); err != nil {
		return exitFailure
	}
	for _, s := range statuses {
		if s.Problem != "" {
			return exitFailure
		}
	}
	return exitOK
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
