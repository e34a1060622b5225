package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/agentsync/agentsync/extract"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/scanagent"
)

// resourceSettings choose what a sync fetches, for sync and run.
type resourceSettings struct {
	Resources, Lookback string
}

func (s *resourceSettings) register(fs *flagSet) {
	fs.String(&s.Resources, "resources", "SYNC_RESOURCES", "agents,definitions,history",
		"what a sync fetches, a comma-separated `list` of: agents, definitions (scan definitions), history (scan sessions and targets); each is its own run")
	s.registerLookback(fs)
}

func (s *resourceSettings) registerLookback(fs *flagSet) {
	fs.String(&s.Lookback, "scan-history-lookback", "SCAN_HISTORY_LOOKBACK", "168h",
		"the `duration` back that the first scan-history fetch reads; later ones read from the previous one")
}

// apply validates the settings into cfg and returns the resources.
func (s *resourceSettings) apply(cfg *load.Config) ([]scanagent.Resource, error) {
	resources, err := scanagent.ParseResources(s.Resources)
	if err != nil {
		return nil, fmt.Errorf("SYNC_RESOURCES: %w", err)
	}
	if cfg.HistoryLookback, err = s.lookback(); err != nil {
		return nil, err
	}
	return resources, nil
}

func (s *resourceSettings) lookback() (time.Duration, error) {
	d, err := durationSetting("SCAN_HISTORY_LOOKBACK", s.Lookback)
	if err == nil && d == 0 {
		err = errors.New("SCAN_HISTORY_LOOKBACK must be positive")
	}
	return d, err
}

// sources reads every resource through one client: one token, one rate
// budget for the tenant.
func sources(c *extract.Client) load.Sources {
	return load.Sources{Agents: c.List, Definitions: c.ListDefinitions, History: c}
}

// syncTenantResources syncs a tenant's resources in their order (agents
// first: the others read what it stored), each in its own run and
// transaction, logging each outcome as soon as it ends. The agents' sync
// takes roundStart (see load.Loader.SyncRound): when another process is
// syncing the tenant, or synced it in the round, the tenant is skipped
// whole. Once ctx has ended no further resource starts.
func syncTenantResources(ctx context.Context, t *target, resources []scanagent.Resource, roundStart time.Time, prog *progress) []load.Outcome {
	var out []load.Outcome
	for _, r := range scanagent.AllResources {
		if !slices.Contains(resources, r) {
			continue
		}
		if len(out) > 0 && ctx.Err() != nil {
			break
		}
		if prog != nil {
			prog.startCounting("sync "+string(r), nouns[r])
		}
		var o load.Outcome
		if r == scanagent.Agents {
			o.Result, o.Err = t.loader.SyncRound(ctx, t.client.List, roundStart)
		} else {
			o = t.loader.SyncResources(ctx, []scanagent.Resource{r}, sources(t.client))[0]
		}
		o.Resource = r
		if prog != nil {
			prog.done()
		}
		logOutcome(t.logger, o)
		if r == scanagent.Agents {
			t.record(o.Result, o.Err)
		}
		out = append(out, o)
		if r == scanagent.Agents && skipped(o.Err) {
			break
		}
	}
	return out
}

// skipped reports a sync that did not run because another process was
// syncing the tenant or had synced it in the round.
func skipped(err error) bool {
	return errors.Is(err, load.ErrSyncInProgress) || errors.Is(err, load.ErrSyncedAlready)
}

// logOutcome logs how the sync of one resource ended, in one structured
// line: succeeded with its counts, failed with its error, or skipped.
// logger carries the tenant.
func logOutcome(logger *slog.Logger, o load.Outcome) {
	res, err := o.Result, o.Err
	switch {
	case errors.Is(err, load.ErrSyncInProgress):
		logger.Info("skipped: another sync of this tenant is running", "resource", res.Resource)
		return
	case errors.Is(err, load.ErrSyncedAlready):
		logger.Info("skipped: another process synced this tenant in this round", "resource", res.Resource)
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
		logger.Error("sync failed", append(attrs, "error", errorText(err))...)
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

// nouns name what the listing of each resource counts.
var nouns = map[scanagent.Resource]string{scanagent.Agents: "agents", scanagent.Definitions: "definitions", scanagent.History: "sessions"}

// resourceSummary is the one-line human summary of a successful sync of
// any resource.
func resourceSummary(res load.Result) string {
	var b strings.Builder
	switch res.Resource {
	case scanagent.Agents:
		return summaryLine(res)
	case scanagent.Definitions:
		fmt.Fprintf(&b, "definitions sync succeeded: run %d, %d definitions (%d new, %d changed, %d unchanged), %d deleted",
			res.RunID, res.Seen, res.Inserted, res.Changed, res.Unchanged, res.Deleted)
		if res.DeletionsWithheld > 0 {
			fmt.Fprintf(&b, ", %d deletions withheld", res.DeletionsWithheld)
		}
	default:
		fmt.Fprintf(&b, "history sync succeeded: run %d, %d sessions (%d new, %d completed, %d unchanged), %d targets",
			res.RunID, res.Seen, res.Inserted, res.Changed, res.Unchanged, res.Targets)
	}
	fmt.Fprintf(&b, ", %d rejected, %d API requests, %s", res.Rejected, res.APIRequests, res.Duration.Round(time.Millisecond))
	return b.String()
}
