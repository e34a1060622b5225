package main

import (
	"fmt"
	"strings"

	"github.com/agentsync/agentsync/tenants"
)

// tenantSelection is --tenant, repeatable: the configured tenants a command
// works on (default: every enabled one).
type tenantSelection struct {
	IDs []string `name:"tenant" sep:"none" placeholder:"id" help:"sync only the tenant with this id (repeatable; default: every enabled tenant)"`
}

// check refuses an empty id.
func (s tenantSelection) check() error {
	for _, id := range s.IDs {
		if strings.TrimSpace(id) == "" {
			return fmt.Errorf("--tenant %q: empty tenant id", id)
		}
	}
	return nil
}

// configuredTenants reads the tenants of the settings, each with its
// credentials resolved: the enabled ones, or those selected.
func configuredTenants(def defenderSettings, selected tenantSelection) ([]tenants.Tenant, error) {
	if err := selected.check(); err != nil {
		return nil, err
	}
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
	if len(selected.IDs) > 0 {
		return tenants.Select(all, selected.IDs)
	}
	if enabled := tenants.Enabled(all); len(enabled) > 0 {
		return enabled, nil
	}
	return nil, fmt.Errorf("%w: every tenant of %s is disabled", tenants.ErrConfig, def.TenantsFile)
}
