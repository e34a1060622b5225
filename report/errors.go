package report

import (
	"errors"
	"fmt"
	"strings"

	"github.com/agentsync/agentsync/internal/safetext"
)

// ErrNoSchema is returned when the database has no agentsync reporting
// views: the migrations never ran there, or it is another database.
var ErrNoSchema = errors.New("no agentsync reporting views in this database (defender.fleet_daily): run agentsync migrate, or point at the database agentsync syncs into")

// ErrUnknownTenant is returned when the tenant asked for has never been
// synced into the database.
var ErrUnknownTenant = errors.New("no sync of this tenant in the database")

// maxKnownTenants bounds the tenants an UnknownTenantError lists, so that
// a provider's three hundred do not fill the screen.
const maxKnownTenants = 20

// UnknownTenantError is the error of a report asked for a tenant never
// synced into the database: it lists those that were, so that the user
// sees the ids to give (and their names, when the configuration gave
// them). It wraps ErrUnknownTenant.
type UnknownTenantError struct {
	Tenant string
	// Known are the tenants of the database, "id (name)" or "id", in the
	// order of their ids.
	Known []string
}

func (e *UnknownTenantError) Error() string {
	msg := fmt.Sprintf("tenant %q: %v", e.Tenant, ErrUnknownTenant)
	switch n := len(e.Known); {
	case n == 0:
		return msg + "; the database holds no tenant yet"
	case n > maxKnownTenants:
		return fmt.Sprintf("%s; known tenants: %s and %d more (agentsync status lists them all)", msg,
			safetext.Escape(strings.Join(e.Known[:maxKnownTenants], ", ")), n-maxKnownTenants)
	}
	return msg + "; known tenants: " + safetext.Escape(strings.Join(e.Known, ", "))
}

func (e *UnknownTenantError) Unwrap() error { return ErrUnknownTenant }
