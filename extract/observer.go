package extract

import "time"

// Observer is told what the client does, for metrics and progress. Its
// methods are called synchronously from List, so they must be quick and
// safe for concurrent use when several listings run at once.
type Observer interface {
	// APIRequest reports one API request and how long it took, body
	// included. status is 0 when no response arrived (a transport error or
	// a timeout).
	APIRequest(status int, d time.Duration)
	// Retry reports that a request is about to be retried, and why: "429",
	// "5xx", "401" (after a token refresh), "timeout" or "network".
	Retry(reason string)
	// TokenFetch reports one token request to Microsoft Entra ID; err is
	// nil when a token came back.
	TokenFetch(err error)
	// Page reports that page number page (from 1) was listed, and how many
	// agents the listing has handed on so far.
	Page(page, agentsSoFar int)
}

// NopObserver is an Observer that ignores everything; the default.
type NopObserver struct{}

// APIRequest does nothing.
func (NopObserver) APIRequest(int, time.Duration) {}

// Retry does nothing.
func (NopObserver) Retry(string) {}

// TokenFetch does nothing.
func (NopObserver) TokenFetch(error) {}

// Page does nothing.
func (NopObserver) Page(int, int) {}
