package tenantsync

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/agentsync/agentsync/internal/safetext"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/metrics"
	"github.com/agentsync/agentsync/scanagent"
)

// SyncResources syncs the tenant's resources in their order (agents first:
// the others read what it stored), each in its own run and transaction,
// logging each outcome as soon as it ends. The agents' sync takes
// roundStart (see load.Loader.SyncRound): when another process is syncing
// the tenant, or synced it in the round, the tenant is skipped whole. Once
// ctx has ended no further resource starts.
func (t *Target) SyncResources(ctx context.Context, resources []scanagent.Resource, roundStart time.Time) []load.Outcome {
	var out []load.Outcome
	for _, r := range scanagent.AllResources {
		if !slices.Contains(resources, r) {
			continue
		}
		if len(out) > 0 && ctx.Err() != nil {
			break
		}
		if t.progress != nil {
			t.progress.StartCounting("sync "+string(r), Noun(r))
		}
		var o load.Outcome
		if r == scanagent.Agents {
			o.Result, o.Err = t.Loader.SyncRound(ctx, t.Client.List, roundStart)
		} else {
			o = t.Loader.SyncResources(ctx, []scanagent.Resource{r}, Sources(t.Client))[0]
		}
		o.Resource = r
		if t.progress != nil {
			t.progress.Done()
		}
		logOutcome(t.Logger, o)
		if r == scanagent.Agents {
			t.record(o.Result, o.Err)
			t.remember(o)
		}
		out = append(out, o)
		if r == scanagent.Agents && Skipped(o.Err) {
			break
		}
	}
	return out
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
			Seen: res.Seen, Inserted: res.Inserted, Changed: res.Changed, Unchanged: res.Unchanged,
			Deleted: res.Deleted, Withheld: res.DeletionsWithheld, Rejected: res.Rejected,
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
	attrs = append(attrs, "seen", res.Seen, "inserted", res.Inserted, "changed", res.Changed, "unchanged", res.Unchanged)
	switch res.Resource {
	case scanagent.History:
		attrs = append(attrs, "targets", res.Targets)
	default:
		attrs = append(attrs, "deleted", res.Deleted, "deletions_withheld", res.DeletionsWithheld)
	}
	attrs = append(attrs, "rejected", res.Rejected)
	if res.Resource == scanagent.Agents {
		attrs = append(attrs, "duplicates", res.Duplicates)
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
