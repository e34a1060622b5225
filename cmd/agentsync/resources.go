package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

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
