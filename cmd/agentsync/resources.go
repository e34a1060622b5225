package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
		"what a sync fetches, comma-separated: agents, definitions (scan definitions), history (scan sessions and targets); each is its own run")
	s.registerLookback(fs)
}

func (s *resourceSettings) registerLookback(fs *flagSet) {
	fs.String(&s.Lookback, "scan-history-lookback", "SCAN_HISTORY_LOOKBACK", "168h",
		"how far back the first scan-history fetch reads; later ones read from the previous one")
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

// syncResourcesAndLog syncs the resources one after the other, each in
// its own run, with the terminal progress line, and logs each one's
// outcome in one structured line as soon as it ends: succeeded with its
// counts, failed with its error, or skipped because another process is
// syncing it. done, when not nil, is told each outcome then too.
func syncResourcesAndLog(ctx context.Context, logger *slog.Logger, loader *load.Loader, resources []scanagent.Resource, src load.Sources,
	prog *progress, done func(load.Outcome)) []load.Outcome {
	var outcomes []load.Outcome
	for _, r := range resources {
		prog.startCounting("sync "+string(r), nouns[r])
		o := loader.SyncResources(ctx, []scanagent.Resource{r}, src)[0]
		prog.done()
		logOutcome(logger, loader.TenantID(), o)
		if done != nil {
			done(o)
		}
		outcomes = append(outcomes, o)
	}
	return outcomes
}

// logOutcome logs how the sync of one resource ended.
func logOutcome(logger *slog.Logger, tenant string, o load.Outcome) {
	res, err := o.Result, o.Err
	agents := res.Resource == scanagent.Agents
	if errors.Is(err, load.ErrSyncInProgress) {
		if agents {
			logger.Info("skipped: another sync of this tenant is running", "tenant", tenant)
		} else {
			logger.Info("skipped: another sync of this tenant's "+string(res.Resource)+" is running", "tenant", tenant, "resource", res.Resource)
		}
		return
	}
	attrs := []any{"tenant", tenant, "resource", res.Resource, "duration", res.Duration.Round(time.Millisecond).String(), "api_requests", res.APIRequests}
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
	if agents {
		attrs = append(attrs, "duplicates", res.Duplicates)
	}
	logger.Info("sync succeeded", append(attrs, "fetched_at", res.FetchedAt)...)
}

// reportOutcomes prints one line per resource, the summary on stdout and
// a failure on stderr, and returns the exit status: a failure of any
// resource fails the command.
func reportOutcomes(stdout, stderr io.Writer, tenant string, outcomes []load.Outcome) int {
	code := exitOK
	for _, o := range outcomes {
		agents := o.Resource == scanagent.Agents
		switch {
		case errors.Is(o.Err, load.ErrSyncInProgress) && agents:
			fmt.Fprintf(stdout, "sync skipped: another sync of tenant %s is running\n", tenant)
		case errors.Is(o.Err, load.ErrSyncInProgress):
			fmt.Fprintf(stdout, "%s sync skipped: another sync of tenant %s's %s is running\n", o.Resource, tenant, o.Resource)
		case o.Err != nil && o.RunID != 0 && agents:
			fmt.Fprintf(stderr, "agentsync sync: run %d failed, nothing changed: %s\n", o.RunID, errorText(o.Err))
			code = exitFailure
		case o.Err != nil && o.RunID != 0:
			fmt.Fprintf(stderr, "agentsync sync: %s run %d failed, nothing changed: %s\n", o.Resource, o.RunID, errorText(o.Err))
			code = exitFailure
		case o.Err != nil:
			fmt.Fprintf(stderr, "agentsync sync: %s\n", errorText(o.Err))
			code = exitFailure
		default:
			fmt.Fprintln(stdout, resourceSummary(o.Result))
		}
	}
	return code
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
