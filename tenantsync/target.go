package tenantsync

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/extract"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/metrics"
	"github.com/agentsync/agentsync/tenants"
)

// Target is one tenant ready to sync: its Defender client (its own token
// and rate budget), its loader and its logger, which carries the tenant.
type Target struct {
	Tenant tenants.Tenant
	Client *extract.Client
	Loader *load.Loader
	Logger *slog.Logger

	metrics  *metrics.Tenant // nil without metrics
	progress Progress        // nil unless the only target of a terminal
	// unrecorded is the latest agents sync of this process when it failed
	// before its run was recorded (nil in a Target made by hand).
	unrecorded *unrecordedFailure
}

// Config is what NewTargets builds every tenant's target from.
type Config struct {
	// Load is every tenant's loader configuration; its TenantID,
	// TenantName and Logger are set per tenant.
	Load load.Config
	// Logger is the process logger; each tenant's lines carry its id.
	Logger *slog.Logger
	// Metrics, when not nil, counts each tenant's requests and syncs.
	Metrics *metrics.Metrics
	// Progress, when not nil, shows the progress of a sync of one tenant
	// (a progress line makes no sense for several at once).
	Progress Progress
	// ClientOptions are added to every tenant's client options.
	ClientOptions []extract.Option
}

// NewTargets builds a target per tenant. Its errors name the tenant; a
// bad setting of a tenant is an extract.ErrConfig.
func NewTargets(ts []tenants.Tenant, pool *pgxpool.Pool, cfg Config) ([]Target, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	out := make([]Target, 0, len(ts))
	for _, t := range ts {
		log := logger.With("tenant", strings.ToLower(t.ID))
		tt := Target{Tenant: t, Logger: log, unrecorded: &unrecordedFailure{}}
		var obs Observers
		if cfg.Progress != nil && len(ts) == 1 {
			tt.progress = cfg.Progress
			obs = append(obs, cfg.Progress)
		}
		if cfg.Metrics != nil {
			tt.metrics = cfg.Metrics.Tenant(strings.ToLower(t.ID))
			obs = append(obs, tt.metrics)
		}
		c, err := NewClient(t, log, obs, cfg.ClientOptions...)
		if err != nil {
			return nil, err
		}
		lc := cfg.Load
		lc.TenantID, lc.TenantName, lc.Logger = t.ID, t.Name, log
		l, err := load.New(pool, lc)
		if err != nil {
			return nil, fmt.Errorf("tenant %q: %w", t.ID, err)
		}
		tt.Client, tt.Loader = c, l
		out = append(out, tt)
	}
	return out, nil
}

// NewClient builds the Defender API client of one tenant: its own token
// cache and rate budget (Defender's limits are per tenant and
// application). Its errors are configuration errors naming the tenant.
func NewClient(t tenants.Tenant, logger *slog.Logger, obs extract.Observer, opts ...extract.Option) (*extract.Client, error) {
	if obs == nil {
		obs = extract.NopObserver{}
	}
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

// Sources reads every resource through one client: one token, one rate
// budget for the tenant.
func Sources(c *extract.Client) load.Sources {
	return load.Sources{Agents: c.List, Definitions: c.ListDefinitions, History: c}
}
