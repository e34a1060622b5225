package scanagent

import (
	"fmt"
	"slices"
	"strings"
)

// Resource is one kind of data a sync fetches and loads, each in a run
// and a transaction of its own.
type Resource string

// The resources, in the order a sync runs them: history reads the
// definitions the same sync stored, and sessions name the agents that ran
// them.
const (
	// Agents are the authenticated scan agents
	// (GET /api/DeviceAuthenticatedScanAgents).
	Agents Resource = "agents"
	// Definitions are the scan definitions
	// (GET /api/DeviceAuthenticatedScanDefinitions).
	Definitions Resource = "definitions"
	// History is the scan sessions of the known definitions and their
	// targets (the GetScanHistoryBy* actions).
	History Resource = "history"
)

// AllResources lists every resource in the order a sync runs them.
var AllResources = []Resource{Agents, Definitions, History}

// InSyncOrder returns the resources of AllResources that resources holds,
// each once, in the order a sync runs them.
func InSyncOrder(resources []Resource) []Resource {
	var out []Resource
	for _, r := range AllResources {
		if slices.Contains(resources, r) {
			out = append(out, r)
		}
	}
	return out
}

// ParseResources reads a comma-separated list of resources, such as the
// SYNC_RESOURCES setting: names in any case, spaces around them ignored,
// each at most once. It returns them in the order a sync runs them, which
// is not necessarily the order given.
func ParseResources(s string) ([]Resource, error) {
	var out []Resource
	for _, part := range strings.Split(s, ",") {
		name := Resource(strings.ToLower(strings.TrimSpace(part)))
		switch {
		case name == "":
			return nil, fmt.Errorf("resources %q: an empty name; want a comma-separated list of %s", s, resourceNames())
		case !slices.Contains(AllResources, name):
			return nil, fmt.Errorf("resources %q: unknown resource %q; want a comma-separated list of %s", s, name, resourceNames())
		case slices.Contains(out, name):
			return nil, fmt.Errorf("resources %q: %s given twice", s, name)
		}
		out = append(out, name)
	}
	slices.SortFunc(out, func(a, b Resource) int {
		return slices.Index(AllResources, a) - slices.Index(AllResources, b)
	})
	return out, nil
}

func resourceNames() string {
	names := make([]string, len(AllResources))
	for i, r := range AllResources {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}
