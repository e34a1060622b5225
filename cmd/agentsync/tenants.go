package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/tenants"
	"github.com/agentsync/agentsync/tenantsync"
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

// printOutcomes writes one summary line per tenant on stdout, each of its
// resources in a few words, and on stderr one line per failure with its
// error. It returns how many tenants failed.
func printOutcomes(stdout, stderr io.Writer, outcomes []tenantsync.Outcome) (failed int) {
	for _, o := range outcomes {
		id := o.Target.Loader.TenantID()
		if o.Failed() {
			failed++
		}
		if o.NotStarted != nil {
			fmt.Fprintf(stdout, "%s: not synced: stopped before its turn\n", id)
			continue
		}
		var parts []string
		for _, r := range o.Resources {
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
