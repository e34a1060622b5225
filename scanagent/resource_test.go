package scanagent

import (
	"slices"
	"testing"
)

func TestParseResources(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]Resource{
		"agents,definitions,history": AllResources,
		" History , AGENTS ":         {Agents, History},
		"definitions":                {Definitions},
		"history,definitions,agents": AllResources,
	} {
		got, err := ParseResources(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseResources(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "agents,", "agent", "agents,agents", "scans"} {
		if got, err := ParseResources(in); err == nil {
			t.Errorf("ParseResources(%q) = %v, want an error", in, got)
		}
	}
}

func TestInSyncOrder(t *testing.T) {
	got := InSyncOrder([]Resource{History, Agents, History, "unknown"})
	if !slices.Equal(got, []Resource{Agents, History}) {
		t.Errorf("InSyncOrder = %v, want [agents history]", got)
	}
	if got := InSyncOrder(nil); len(got) != 0 {
		t.Errorf("InSyncOrder(nil) = %v, want none", got)
	}
}
