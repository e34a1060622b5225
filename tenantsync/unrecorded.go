package tenantsync

import (
	"errors"
	"sync"
	"time"

	"github.com/agentsync/agentsync/internal/safetext"
	"github.com/agentsync/agentsync/load"
)

// unrecordedFailure keeps the latest agents sync of a tenant by this
// process when it failed before its run was recorded in sync_runs (the
// database refused the run's row, a pooler broke the connection, ...):
// nothing in the database tells of it, yet the tenant is not syncing.
type unrecordedFailure struct {
	mu  sync.Mutex
	at  time.Time
	err string
}

// remember keeps o when it failed with no run recorded, and forgets the
// failure kept when o recorded a run or succeeded. A skipped sync changes
// nothing.
func (t *Target) remember(o load.Outcome) {
	u := t.unrecorded
	if u == nil || (Skipped(o.Err) && !errors.Is(o.Err, load.ErrTenantHeld)) {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if o.Err != nil && o.RunID == 0 {
		u.at, u.err = time.Now(), safetext.Text(o.Err.Error())
		return
	}
	u.at, u.err = time.Time{}, ""
}

// lastUnrecorded returns the failure kept, if any.
func (t *Target) lastUnrecorded() (at time.Time, err string, ok bool) {
	u := t.unrecorded
	if u == nil {
		return time.Time{}, "", false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.at, u.err, !u.at.IsZero()
}
