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

// statusCommand is agentsync status.
type statusCommand struct {
	databaseSettings
	TenantID    string `name:"tenant-id" envvar:"DEFENDER_TENANT_ID" placeholder:"ids" help:"the configured tenant ids, separated by commas"`
	TenantsFile string `name:"tenants-file" envvar:"DEFENDER_TENANTS_FILE" placeholder:"path" help:"path of the tenants file"`
	Schedule    string `name:"schedule" envvar:"SYNC_SCHEDULE" placeholder:"cron-spec" default:"@hourly" help:"the daemon's schedule, a cron-spec: a tenant with no success within two of its periods is overdue"`
	JSON        bool   `name:"json" help:"print one JSON object per tenant instead of a table"`
	logSettings
	noArguments
}

// Help is the command's description, for kong.
func (*statusCommand) Help() string {
	return "Prints, per tenant stored in the database, how its syncs go: its display name, its last\n" +
		"successful sync and how old it is, its last failure and why, its active and stale (7\n" +
		"days) agents and the deletions withheld. Exits 1 when a configured tenant's latest sync\n" +
		"failed, or none of its syncs succeeded within two periods of SYNC_SCHEDULE: a check for\n" +
		"cron and monitoring. The configured tenants are those of DEFENDER_TENANT_ID or\n" +
		"DEFENDER_TENANTS_FILE (no credentials needed); without either, every stored tenant."
}

func (*statusCommand) exits() exitStatuses {
	return exitStatuses{
		exitOK:      "every configured tenant's latest sync succeeded, within two schedule periods",
		exitFailure: "a configured tenant's latest sync failed, or none succeeded within two schedule periods",
		exitUsage:   usageExit,
	}
}

func (c *statusCommand) run(ctx context.Context, a *app) int {
	if err := c.noArguments.check(); err != nil {
		return a.fail(err)
	}
	logger, err := newLogger(a.stderr, c.logSettings)
	if err != nil {
		return a.fail(err)
	}
	if err := c.databaseSettings.check(a.getenv); err != nil {
		return a.fail(err)
	}
	period, err := schedulePeriod(c.Schedule)
	if err != nil {
		return a.fail(err)
	}
	configured, err := configuredIDs(c.TenantID, c.TenantsFile)
	if err != nil {
		return a.fail(err)
	}

	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	defer stop()
	pool, err := openPool(ctx, c.URL, logger)
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
	if c.JSON {
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
func configuredIDs(tenantIDs, tenantsFile string) ([]string, error) {
	if tenantIDs == "" && tenantsFile == "" {
		return nil, nil
	}
	// Credentials do not matter here: placeholders let the tenants load.
	ts, err := tenants.Load(tenants.Defaults{TenantIDs: tenantIDs, ClientID: "status", ClientSecret: "status"}, tenantsFile)
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
		return 0, scheduleSettingError(err)
	}
	first := s.Next(time.Now())
	return s.Next(first).Sub(first), nil
}
