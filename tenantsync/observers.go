package tenantsync

import (
	"time"

	"github.com/agentsync/agentsync/extract"
)

// Progress shows a sync's progress on a terminal: it observes the
// listing, and is told when the listing of each resource starts and ends.
type Progress interface {
	extract.Observer
	// StartCounting begins the line of a listing labelled label that
	// counts noun (agents, definitions, sessions).
	StartCounting(label, noun string)
	// Done clears the line once the listing has ended.
	Done()
}

// Observers hands each extract event to several observers: the metrics and
// the terminal progress.
type Observers []extract.Observer

// APIRequest is part of extract.Observer.
func (o Observers) APIRequest(status int, d time.Duration) {
	for _, x := range o {
		x.APIRequest(status, d)
	}
}

// Retry is part of extract.Observer.
func (o Observers) Retry(reason string) {
	for _, x := range o {
		x.Retry(reason)
	}
}

// TokenFetch is part of extract.Observer.
func (o Observers) TokenFetch(err error) {
	for _, x := range o {
		x.TokenFetch(err)
	}
}

// Page is part of extract.Observer.
func (o Observers) Page(page, agentsSoFar int) {
	for _, x := range o {
		x.Page(page, agentsSoFar)
	}
}
