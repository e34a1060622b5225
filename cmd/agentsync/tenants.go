package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/extract"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/metrics"
	"github.com/agentsync/agentsync/scanagent"
	"github.com/agentsync/agentsync/schedule"
	"github.com/agentsync/agentsync/tenants"
)

// tenantSelection is --tenant, repeatable: the configured tenants a command
// works on (default: every enabled one).
type tenantSelection []string

func (s *tenantSelection) String() string { return strings.Join(*s, ",") }

func (s *tenantSelection) Set(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("empty tenant id")
	}
	*s = append(*s, v)
	return nil
}

func (s *tenantSelection) register(fs *flagSet) {
	fs.Var(s, "tenant", "sync only the tenant with this `id` (repeatable; default: every enabled tenant)")
}

// concurrencySetting is SYNC_CONCURRENCY.
type concurrencySetting struct{ value string }

func (s *concurrencySetting) register(fs *flagSet) {
	fs.String(&s.value, "concurrency", "SYNC_CONCURRENCY", strconv.Itoa(defaultConcurrency),
		"`n` tenants synced at once")
}

// defaultConcurrency keeps a handful of tenants in flight: enough to hide
// the API's latency, few enough for a small database.
const defaultConcurrency = 4

func (s *concurrencySetting) parse() (int, error) {
	n, err := strconv.Atoi(s.value)
	if err != nil || n < 1 || n > 256 {
		return 0, fmt.Errorf("SYNC_CONCURRENCY %q: want a whole number from 1 to 256", s.value)
	}
	return n, nil
}

// configuredTenants reads the tenants of the settings, each with its
// credentials resolved: the enabled ones, or those selected.
func configuredTenants(def defenderSettings, selected tenantSelection) ([]tenants.Tenant, error) {
	all, err := tenants.Load(tenants.Defaults{
		TenantIDs:             def.TenantID,
		ClientID:              def.ClientID,
		ClientSecret:          def.ClientSecret,
		ClientSecretFile:      def.ClientSecretFile,
		ClientCertificateFile: def.ClientCertificateFile,
		Cloud:                 def.Cloud,
		Region:                def.Region,
		APIURL:                def.APIURL,
		TokenURL:              def.TokenURL,
		Scope:                 def.Scope,
	}, def.TenantsFile)
	if err != nil {
		return nil, err
	}
	if len(selected) > 0 {
		return tenants.Select(all, selected)
	}
	if enabled := tenants.Enabled(all); len(enabled) > 0 {
		return enabled, nil
	}
	return nil, fmt.Errorf("%w: every tenant of %s is disabled", tenants.ErrConfig, def.TenantsFile)
}

// newTenantClient builds the Defender API client of one tenant: its own
// token cache and rate budget (Defender's limits are per tenant and
// application). Its errors are configuration errors naming the tenant.
func newTenantClient(t tenants.Tenant, logger *slog.Logger, obs extract.Observer, opts ...extract.Option) (*extract.Client, error) {
	c, err := extract.New(extract.Config{
		TenantID:        t.ID,
		ClientID:        t.ClientID,
		ClientSecret:    t.ClientSecret,
		CertificateFile: t.ClientCertificateFile,
		Cloud:           t.Cloud,
		Region:          t.Region,
		APIURL:          t.APIURL,
		TokenURL:        t.TokenURL,
		Scope:           t.Scope,
	}, append([]extract.Option{extract.WithLogger(logger), extract.WithObserver(obs)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("tenant %q: %w", t.ID, err)
	}
	return c, nil
}

// target is one tenant ready to sync: its client, its loader, its logger
// and its metrics.
type target struct {
	tenant  tenants.Tenant
	client  *extract.Client
	loader  *load.Loader
	logger  *slog.Logger
	metrics *metrics.Tenant // nil without metrics
}

// newTargets builds a target per tenant. Every line logged about a tenant
// carries its id.
func newTargets(ts []tenants.Tenant, pool *pgxpool.Pool, base load.Config, logger *slog.Logger,
	m *metrics.Metrics, prog *progress, opts ...extract.Option) ([]target, error) {
	out := make([]target, 0, len(ts))
	for _, t := range ts {
		log := logger.With("tenant", strings.ToLower(t.ID))
		tt := target{tenant: t, logger: log}
		var obs observers
		if prog != nil && len(ts) == 1 {
			obs = append(obs, prog) // one progress line makes sense for one sync only
		}
		if m != nil {
			tt.metrics = m.Tenant(strings.ToLower(t.ID))
			obs = append(obs, tt.metrics)
		}
		c, err := newTenantClient(t, log, obs, opts...)
		if err != nil {
			return nil, err
		}
		cfg := base
		cfg.TenantID, cfg.TenantName, cfg.Logger = t.ID, t.Name, log
		l, err := load.New(pool, cfg)
		if err != nil {
			return nil, fmt.Errorf("tenant %q: %w", t.ID, err)
		}
		tt.client, tt.loader = c, l
		out = append(out, tt)
	}
	return out, nil
}

// tenantOutcome is how one tenant's sync ended: each resource's outcome,
// or why it never started.
type tenantOutcome struct {
	target     *target
	resources  []load.Outcome
	notStarted error // schedule.ErrNotStarted, when shutdown came before its turn
}

// failed reports whether a resource of the tenant failed, or the tenant
// never started.
func (o tenantOutcome) failed() bool {
	if o.notStarted != nil {
		return true
	}
	for _, r := range o.resources {
		if r.Err != nil && !skipped(r.Err) {
			return true
		}
	}
	return false
}

// syncTenants syncs the targets' resources, concurrency tenants at once,
// each after its own jitter: each resource of each tenant in its own
// transaction and run, so that one failing never stops or rolls back
// another. Once stop is done no tenant starts; those in flight go on under
// ctx. With roundStart, a tenant another process synced since then is
// skipped (see load.Loader.SyncRound). It returns the outcomes in the order
// of targets.
func syncTenants(stop, ctx context.Context, targets []target, resources []scanagent.Resource, concurrency int,
	jitter time.Duration, prog *progress, roundStart time.Time) []tenantOutcome {
	outcomes := make([]tenantOutcome, len(targets))
	jobs := make([]schedule.Job, len(targets))
	for i := range targets {
		t := &targets[i]
		outcomes[i].target = t
		jobs[i] = func(ctx context.Context) error {
			var p *progress
			if len(targets) == 1 {
				p = prog
			}
			outcomes[i].resources = syncTenantResources(ctx, t, resources, roundStart, p)
			return nil
		}
	}
	errs := schedule.Fanout(stop, ctx, schedule.FanoutConfig{Concurrency: concurrency, Jitter: jitter}, jobs)
	for i, err := range errs {
		if errors.Is(err, schedule.ErrNotStarted) {
			outcomes[i].notStarted = err
		}
	}
	return outcomes
}

// record counts a finished sync in the tenant's metrics.
func (t *target) record(res load.Result, err error) {
	if t.metrics == nil {
		return
	}
	switch {
	case errors.Is(err, load.ErrSyncInProgress), errors.Is(err, load.ErrSyncedAlready):
		t.metrics.SyncSkipped()
	case err != nil:
		t.metrics.SyncFinished(metrics.Outcome{Status: metrics.StatusFailed, Duration: res.Duration})
	default:
		t.metrics.SyncFinished(metrics.Outcome{
			Status: metrics.StatusSucceeded, Duration: res.Duration, FinishedAt: time.Now(),
			Seen: res.Seen, Inserted: res.Inserted, Changed: res.Changed, Unchanged: res.Unchanged,
			Deleted: res.Deleted, Withheld: res.DeletionsWithheld, Rejected: res.Rejected,
		})
	}
}

// printOutcomes writes one summary line per tenant on stdout, each of its
// resources in a few words, and on stderr one line per failure with its
// error. It returns how many tenants failed.
func printOutcomes(stdout, stderr io.Writer, outcomes []tenantOutcome) (failed int) {
	for _, o := range outcomes {
		id := o.target.loader.TenantID()
		if o.failed() {
			failed++
		}
		if o.notStarted != nil {
			fmt.Fprintf(stdout, "%s: not synced: stopped before its turn\n", id)
			continue
		}
		var parts []string
		for _, r := range o.resources {
			switch {
			case errors.Is(r.Err, load.ErrSyncInProgress):
				parts = append(parts, "skipped: another sync of this tenant is running")
			case errors.Is(r.Err, load.ErrSyncedAlready):
				parts = append(parts, "skipped: another process synced it in this round")
			case r.Err != nil:
				run := ""
				if r.RunID != 0 {
					run = fmt.Sprintf(" run %d", r.RunID)
					fmt.Fprintf(stderr, "agentsync sync: tenant %s: %s run %d failed, nothing changed: %s\n", id, r.Resource, r.RunID, errorText(r.Err))
				} else {
					fmt.Fprintf(stderr, "agentsync sync: tenant %s: %s: %s\n", id, r.Resource, errorText(r.Err))
				}
				parts = append(parts, fmt.Sprintf("%s%s FAILED", r.Resource, run))
			default:
				parts = append(parts, resourceSummary(r.Result))
			}
		}
		fmt.Fprintf(stdout, "%s: %s\n", id, strings.Join(parts, "; "))
	}
	return failed
}
