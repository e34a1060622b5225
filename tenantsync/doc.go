// Package tenantsync runs the syncs of configured tenants: one tenant's
// resources in their order (agents first, then scan definitions and
// history), each in a run and transaction of its own, and many tenants at
// once, each standing alone, so that one failing never stops or rolls back
// another. It also answers the daemon's readiness from the tenants' latest
// runs.
//
// It wires extract (the Defender API) to load (PostgreSQL) for each tenant;
// when a sync happens is schedule's business, and what is printed of its
// outcomes the command's.
package tenantsync
