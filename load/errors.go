package load

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrSyncInProgress is returned by Sync when another sync of the same tenant
// holds the tenant's lease, in this process or any other, and a run of the
// tenant is marked running. Nothing was written.
var ErrSyncInProgress = errors.New("another sync of this tenant is running")

// ErrTenantHeld matches a *HeldError: another holder has the tenant's
// lease, yet no run of the tenant is marked running. Nothing was written.
var ErrTenantHeld = errors.New("the tenant is held with no sync of it running")

// HeldError is returned by a sync skipped because another holder has the
// tenant's lease while no run of it is running: a sync between two of its
// resources, or a process that hangs (its lease expires DefaultLeaseDuration
// after its last renewal). It matches ErrTenantHeld.
type HeldError struct {
	Holder string    // the holder's worker (host:pid) and token
	Until  time.Time // when its lease expires unless renewed
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("the tenant is held by %s until %s, with no sync of it running", e.Holder, e.Until.Format(time.RFC3339))
}

// Is reports whether target is ErrTenantHeld.
func (e *HeldError) Is(target error) bool { return target == ErrTenantHeld }

// ErrLeaseLost is the cause of a sync cancelled because its lease on the
// tenant ended (another holder took it after it expired, or it could not
// be renewed in time): it was rolled back and recorded failed.
var ErrLeaseLost = errors.New("lost the tenant's lease")

// ErrSyncedAlready is returned by SyncRound when a sync of the tenant (by
// any process) already finished in the round. Nothing was written.
var ErrSyncedAlready = errors.New("another process synced this tenant in this round")

// ErrClockBehind is returned when the clock reads a time at or before the
// fetch time of the tenant's latest successful sync: history ranges must
// move forward, so the sync refuses to run.
var ErrClockBehind = errors.New("clock is at or before the latest successful sync of this tenant")

// ErrSyncTimeout is the cause of a sync cancelled because it ran longer
// than Config.SyncTimeout: it was rolled back and recorded failed.
var ErrSyncTimeout = errors.New("sync timed out")

// DatabaseError is an error reported by PostgreSQL, described without the
// driver's types so that callers need not import pgx.
type DatabaseError struct {
	Code       string // SQLSTATE, e.g. 23505
	Message    string
	Detail     string
	Constraint string
	Table      string
	Err        error // the driver's error
}

func (e *DatabaseError) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	if e.Constraint != "" {
		fmt.Fprintf(&b, " (constraint %s)", e.Constraint)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Detail)
	}
	fmt.Fprintf(&b, " [SQLSTATE %s]", e.Code)
	return b.String()
}

func (e *DatabaseError) Unwrap() error { return e.Err }

// interpretError turns a PostgreSQL error into a *DatabaseError and leaves
// every other error as it is.
func interpretError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return &DatabaseError{
			Code:       pgErr.Code,
			Message:    pgErr.Message,
			Detail:     pgErr.Detail,
			Constraint: pgErr.ConstraintName,
			Table:      pgErr.TableName,
			Err:        err,
		}
	}
	return err
}

// FetchError reports that the listing of agents failed, so the sync
// applied nothing. It wraps the extractor's error.
type FetchError struct {
	Err error
}

func (e *FetchError) Error() string { return "fetch: " + e.Err.Error() }
func (e *FetchError) Unwrap() error { return e.Err }

// ErrNotOwner is returned by Verify when the database refuses to let its
// user read the storage schema: verify runs as the owner of schema
// defender (the migrating user), not as a reader.
var ErrNotOwner = errors.New("verify reads the storage behind the views: run it as the owner of schema defender (the user that runs agentsync migrate)")

// UnknownTenantError is returned by Verify for a tenant with no run in the
// database; Known lists the tenants there are.
type UnknownTenantError struct {
	Tenant string
	Known  []string
}

func (e *UnknownTenantError) Error() string {
	if len(e.Known) == 0 {
		return fmt.Sprintf("tenant %q: no run in the database, and no tenant at all", e.Tenant)
	}
	return fmt.Sprintf("tenant %q: no run in the database; the tenants are %s", e.Tenant, strings.Join(e.Known, ", "))
}
