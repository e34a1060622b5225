package report

import "errors"

// ErrNoSchema is returned when the database has no agentsync reporting
// views: the migrations never ran there, or it is another database.
var ErrNoSchema = errors.New("no agentsync reporting views in this database (defender.fleet_daily): run agentsync migrate, or point at the database agentsync syncs into")

// ErrUnknownTenant is returned when the tenant asked for has never been
// synced into the database.
var ErrUnknownTenant = errors.New("no sync of this tenant in the database")
