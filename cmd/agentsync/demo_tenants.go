package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/extract"
	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/report"
)

// demoOtherAgents is the size of the tenants synced beside the story's:
// tens of agents, as most Defender tenants have.
const demoOtherAgents = 40

// demoTenantNames are the display names of the demo's tenants, the story's
// first.
var demoTenantNames = []string{"Contoso", "Fabrikam", "Northwind", "Woodgrove", "Tailspin", "Litware", "Proseware", "Wingtip"}

func demoTenantName(i int) string {
	if i < len(demoTenantNames) {
		return demoTenantNames[i]
	}
	return fmt.Sprintf("Tenant %d", i+1)
}

// demoTenant is one simulated tenant of the demo with its client and
// loader, as agentsync sync makes them for each configured tenant.
type demoTenant struct {
	name   string
	client *extract.Client
	loader *load.Loader
}

// newDemoTenant makes the client and loader of tenant t served by srv; the
// loader records the simulated time now returns.
func newDemoTenant(pool *pgxpool.Pool, logger *slog.Logger, prog *progress, srv *defendertest.TenantsServer, t *defendertest.Tenant, name string, now func() time.Time) (demoTenant, error) {
	id := t.TenantID()
	logger = logger.With("tenant", strings.ToLower(id))
	client, err := extract.New(extract.Config{
		TenantID:     id,
		ClientID:     defendertest.DefaultClientID,
		ClientSecret: defendertest.DefaultClientSecret,
		APIURL:       srv.URL,
		TokenURL:     strings.ReplaceAll(srv.TokenURL(), "{tenant}", id),
	},
		extract.WithLogger(logger),
		extract.WithObserver(prog),
		// The simulated tenants have no rate limit; Defender's would make a
		// month of syncs take minutes.
		extract.WithRateBudget(extract.RateBudget{}),
	)
	if err != nil {
		return demoTenant{}, fmt.Errorf("tenant %s: %w", name, err)
	}
	loader, err := load.New(pool, load.Config{TenantID: id, TenantName: name, Logger: logger, Now: now})
	if err != nil {
		return demoTenant{}, fmt.Errorf("tenant %s: %w", name, err)
	}
	return demoTenant{name: name, client: client, loader: loader}, nil
}

// printDemoTenants prints every tenant side by side as agentsync status
// does, judged at the time of the last simulated sync.
func printDemoTenants(ctx context.Context, w io.Writer, pool *pgxpool.Pool, at time.Time, plan demoPlan) error {
	statuses, err := report.ReadTenantStatuses(ctx, pool)
	if err != nil {
		return err
	}
	statuses = report.JudgeStatuses(statuses, nil, at, 24*time.Hour/time.Duration(plan.syncsPerDay))
	fmt.Fprintf(w, "\nTenants side by side (agentsync status; defender.tenant_sync_status)\n")
	return report.WriteStatusTable(w, statuses, at)
}
