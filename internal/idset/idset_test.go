package idset

import (
	"fmt"
	"testing"
)

func TestAddTellsRepeats(t *testing.T) {
	s := New()
	for i := range 1000 {
		if s.Add(fmt.Sprintf("agent-%d", i)) {
			t.Fatalf("agent-%d reported as seen before its first Add", i)
		}
	}
	for _, id := range []string{"agent-0", "agent-999", "agent-500"} {
		if !s.Add(id) {
			t.Errorf("%s added again was not reported as seen", id)
		}
	}
	if s.Add("") || !s.Add("") {
		t.Error("the empty id is an id like any other")
	}
}
