package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/agentsync/agentsync/extract"
	"github.com/agentsync/agentsync/internal/safetext"
	"github.com/agentsync/agentsync/scanagent"
	"github.com/agentsync/agentsync/tenantsync"
)

// fetchSettings choose what fetch prints.
type fetchSettings struct {
	Resource string
	scans    resourceSettings
}

func (s *fetchSettings) register(fs *flagSet) {
	fs.String(&s.Resource, "resource", "", string(scanagent.Agents),
		"the `resource` to print: agents, definitions (scan definitions, never their credentials) or history (scan sessions of the lookback, with their targets)")
	s.scans.registerLookback(fs)
}

// parse validates the settings.
func (s *fetchSettings) parse() (scanagent.Resource, time.Duration, error) {
	resources, err := scanagent.ParseResources(s.Resource)
	if err != nil || len(resources) != 1 {
		return "", 0, fmt.Errorf("--resource %q: want one of agents, definitions, history", s.Resource)
	}
	lookback, err := s.scans.lookback()
	return resources[0], lookback, err
}

// fetchResource prints every record of resource as one JSON object per
// line on stdout and the listing's summary on stderr, and returns the exit
// status.
func fetchResource(ctx context.Context, a *app, client *extract.Client, resource scanagent.Resource, lookback time.Duration, prog *progress) int {
	out := bufio.NewWriter(a.stdout)
	enc := json.NewEncoder(jsonLines{out})
	enc.SetEscapeHTML(false)
	prog.StartCounting("fetch", tenantsync.Noun(resource))
	var st scanagent.ListStats
	var err error
	switch resource {
	case scanagent.Definitions:
		st, err = client.ListDefinitions(ctx, func(d scanagent.ScanDefinition) error { return enc.Encode(d) })
	case scanagent.History:
		st, err = client.History(ctx, time.Now().Add(-lookback), func(s scanagent.ScanSession) error { return enc.Encode(s) })
	default:
		st, err = client.List(ctx, func(r scanagent.Record) error { return enc.Encode(r) })
	}
	prog.Done()
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("write %s: %w", resource, ferr)
	}
	code := exitOK
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync fetch: %s\n", errorText(err))
		code = exitFailure
	}
	// The summary ends the output whatever the log level, complete or
	// not: it tells how far the listing got.
	fmt.Fprintf(a.stderr, "agentsync fetch: %d %s in %d pages, %d API requests, %d rejected, %d duplicate ids\n",
		st.Agents, tenantsync.Noun(resource), st.Pages, st.Requests, st.Rejected, st.Duplicates)
	return code
}

// jsonLines writes each JSON value an encoder hands it with its C1
// controls and bidirectional overrides escaped (safetext.JSON): fetch's
// output may reach a terminal. encoding/json writes each value in one
// call, so no character is split between two.
type jsonLines struct{ w io.Writer }

func (j jsonLines) Write(p []byte) (int, error) {
	if _, err := j.w.Write(safetext.JSON(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}
