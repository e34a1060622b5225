package tenantsync

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/agentsync/agentsync/extract"
	"github.com/agentsync/agentsync/internal/safetext"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/metrics"
	"github.com/agentsync/agentsync/scanagent"
)

// SyncResources syncs the tenant's resources in their order (agents first:
// the others read what it stored), each in its own run and transaction,
// under the tenant's lease taken once for them all, logging each outcome
// as soon as it ends. When the lease cannot be taken (another process is
// syncing the tenant, or another holder has it), or another process synced
// the tenant's agents in the round (roundStart, see
// load.Loader.SyncRound), the tenant is skipped whole: one outcome, of the
// first resource, says why. Once ctx has ended, or the lease is lost, no
// further resource starts.
//
// A resource that failed for want of a token (extract.ErrToken: Entra
// refused the credentials, or did not answer through the retries) fails
// the tenant's remaining resources at once, each in a failed run with the
// same error: none of them could be read, and asking Entra again would
// only spend the same retries.
func (t *Target) SyncResources(ctx context.Context, resources []scanagent.Resource, roundStart time.Time) []load.Outcome {
	wanted := scanagent.InSyncOrder(resources)
	if len(wanted) == 0 {
		return nil
	}
	if wanted[0] != scanagent.Agents {
		// The round is told by the agents' syncs.
		roundStart = time.Time{}
	}
	hold, ctx, err := t.Loader.Hold(ctx, roundStart)
	if err != nil {
		o := load.Outcome{Result: load.Result{Resource: wanted[0]}, Err: err}
		logOutcome(t.Logger, o)
		if wanted[0] == scanagent.Agents {
			t.record(o.Result, o.Err)
			t.remember(o)
		}
		return []load.Outcome{o}
	}
	defer hold.Release()
	var out []load.Outcome
	var noToken error
	for _, r := range wanted {
		if len(out) > 0 && ctx.Err() != nil {
			break
		}
		if t.progress != nil {
			t.progress.StartCounting("sync "+string(r), Noun(r))
		}
		var o load.Outcome
		switch {
		case noToken != nil:
			o = hold.SyncResources(ctx, []scanagent.Resource{r}, unreadable(noToken))[0]
		case r == scanagent.Agents:
			o.Result, o.Err = hold.Sync(ctx, t.Client.List)
		default:
			o = hold.SyncResources(ctx, []scanagent.Resource{r}, Sources(t.Client))[0]
		}
		o.Resource = r
		if t.progress != nil {
			t.progress.Done()
		}
		logOutcome(t.Logger, o)
		if r == scanagent.Agents {
			t.record(o.Result, o.Err)
			t.remember(o)
		} else if t.metrics != nil && o.Err == nil {
			t.metrics.FieldsRepaired(o.FieldsRepaired)
		}
		out = append(out, o)
		if noToken == nil && errors.Is(o.Err, extract.ErrToken) {
			noToken = o.Err
			if fe := (*load.FetchError)(nil); errors.As(o.Err, &fe) {
				noToken = fe.Err
			}
		}
	}
	return out
}

// unreadable are sources that fail at once with err: the resources of a
// tenant that could not get a token.
func unreadable(err error) load.Sources {
	return load.Sources{
		Agents: func(context.Context, func(scanagent.Record) error) (scanagent.ListStats, error) {
			return scanagent.ListStats{}, err
		},
		Definitions: func(context.Context, func(scanagent.ScanDefinition) error) (scanagent.ListStats, error) {
			return scanagent.ListStats{}, err
		},
		History: unreadableHistory{err},
	}
}

// unreadableHistory is a scan history that fails at once with err.
type unreadableHistory struct{ err error }

func (h unreadableHistory) SessionsByDefinition(context.Context, []string, time.Time, func(scanagent.ScanSession) error) (scanagent.ListStats, error) {
	return scanagent.ListStats{}, h.err
}

func (h unreadableHistory) SessionsByID(context.Context, []string, func(scanagent.ScanSession) error) (scanagent.ListStats, error) {
	return scanagent.ListStats{}, h.err
}

// Skipped reports a sync that did not run because another process was
// syncing the tenant, had synced it in the round, or holds it with no
// sync of it running (load.ErrTenantHeld, which Outcome.Failed counts as
// a failure).
func Skipped(err error) bool {
	return errors.Is(err, load.ErrSyncInProgress) || errors.Is(err, load.ErrSyncedAlready) || errors.Is(err, load.ErrTenantHeld)
}

// record counts a finished sync in the tenant's metrics.
func (t *Target) record(res load.Result, err error) {
	if t.metrics == nil {
		return
	}
	switch {
	case Skipped(err):
		t.metrics.SyncSkipped()
	case err != nil:
		t.metrics.SyncFinished(metrics.Outcome{Status: metrics.StatusFailed, Duration: res.Duration})
	default:
		t.metrics.SyncFinished(metrics.Outcome{
			Status: metrics.StatusSucceeded, Duration: res.Duration, FinishedAt: time.Now(),
			Seen: res.Seen, Inserted: res.Inserted, Changed: res.Changed, HeartbeatOnly: res.HeartbeatOnly, Unchanged: res.Unchanged,
			Deleted: res.Deleted, Withheld: res.DeletionsWithheld, Rejected: res.Rejected, FieldsRepaired: res.FieldsRepaired,
		})
	}
}

// logOutcome logs how the sync of one resource ended, in one structured
// line: succeeded with its counts, failed with its error, or skipped.
// logger carries the tenant. The error may quote what the API or the
// database sent, so it goes through safetext.
func logOutcome(logger *slog.Logger, o load.Outcome) {
	res, err := o.Result, o.Err
	switch {
	case errors.Is(err, load.ErrSyncInProgress):
		logger.Info("skipped: another sync of this tenant is running", "resource", res.Resource)
		return
	case errors.Is(err, load.ErrSyncedAlready):
		logger.Info("skipped: another process synced this tenant in this round", "resource", res.Resource)
		return
	case errors.Is(err, load.ErrTenantHeld):
		var held *load.HeldError
		errors.As(err, &held)
		logger.Warn("skipped: another holder has the tenant and no sync of it is running", "resource", res.Resource,
			"holder", held.Holder, "until", held.Until.Format(time.RFC3339))
		return
	}
	attrs := []any{"resource", res.Resource,
		"duration", res.Duration.Round(100 * time.Microsecond).String(),
		"database_duration", (res.Duration - res.FetchDuration).Round(100 * time.Microsecond).String(),
		"api_requests", res.APIRequests}
	if res.RunID != 0 {
		attrs = append([]any{"run_id", res.RunID}, attrs...)
	}
	if err != nil {
		logger.Error("sync failed", append(attrs, "error", safetext.Text(err.Error()))...)
		return
	}
	// As the sync's summary says it: "listed" is every distinct record
	// of the listing; an agent of which only the heartbeat moved is
	// "seen", neither changed nor unchanged.
	attrs = append(attrs, "listed", res.Seen, "inserted", res.Inserted, "changed", res.Changed)
	if res.Resource == scanagent.Agents {
		attrs = append(attrs, "seen", res.HeartbeatOnly)
	}
	attrs = append(attrs, "unchanged", res.Unchanged)
	switch res.Resource {
	case scanagent.History:
		attrs = append(attrs, "targets", res.Targets)
	default:
		attrs = append(attrs, "deleted", res.Deleted, "deletions_withheld", res.DeletionsWithheld)
	}
	attrs = append(attrs, "rejected", res.Rejected)
	if res.Resource == scanagent.Agents {
		attrs = append(attrs, "duplicates", res.Duplicates, "fields_repaired", res.FieldsRepaired)
	}
	logger.Info("sync succeeded", append(attrs, "fetched_at", res.FetchedAt)...)
}

// Noun names what the listing of resource counts: agents, definitions or
// sessions.
func Noun(r scanagent.Resource) string {
	switch r {
	case scanagent.Definitions:
		return "definitions"
	case scanagent.History:
		return "sessions"
	}
	return "agents"
}
