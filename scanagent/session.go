package scanagent

import (
	"context"
	"encoding/json"
	"time"
)

// ScanSession is one run of a scan definition as the scan history
// reported it, normalized: canonical names, whatever the spelling (the
// vendor's pages write ScanDefinitionIds and SessionIds, the service's
// metadata scanDefinitionId and sessionId), times in UTC cut to
// microseconds.
type ScanSession struct {
	// DefinitionID is the definition that ran; never empty in a
	// ScanSession.
	DefinitionID string `json:"definition_id"`
	// SessionID identifies the session; "" when the API sent none.
	SessionID string `json:"session_id,omitempty"`
	// ScannerID is the scanner the history names (ScannerId), as sent.
	ScannerID string `json:"scanner_id,omitempty"`
	// Status is the session's outcome as sent: Success, Fail,
	// Partial Success...
	Status string `json:"status,omitempty"`
	// ScannedAt is when the session ran (LastScanned); zero when not
	// sent.
	ScannedAt time.Time `json:"scanned_at,omitzero"`
	// Targets and SucceededTargets count the session's targets and the
	// ones scanned successfully; nil when not sent.
	Targets          *int `json:"targets,omitempty"`
	SucceededTargets *int `json:"succeeded_targets,omitempty"`
	// GeneralError is the session's error message, when it has one.
	GeneralError string `json:"general_error,omitempty"`
	// TargetsReported says that the API listed the scanned targets
	// (ListScannedTargets), even as an empty list: ScannedTargets then
	// holds every target of the session. The history by definition lists
	// none; the history by session does.
	TargetsReported bool         `json:"targets_reported,omitempty"`
	ScannedTargets  []ScanTarget `json:"scanned_targets,omitempty"`
	// Extra holds the fields the API sent that have no field above, keyed
	// exactly as sent, with their raw JSON values. Nil when there are
	// none.
	Extra map[string]json.RawMessage `json:"extra,omitempty"`
}

// ScanTarget is one target of a session: a device the scan reached, or
// tried to.
type ScanTarget struct {
	IP       string `json:"ip,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	// Description is the scanned device's description.
	Description string `json:"description,omitempty"`
	// Status is the target's outcome as sent: Success, Failure,
	// PartialSuccess.
	Status       string `json:"status,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`
	// Duration is how long the target's scan took; nil when not sent.
	Duration *Duration `json:"duration,omitempty"`
	// Extra holds the target's fields that have no field above, keyed as
	// sent. Nil when there are none.
	Extra map[string]json.RawMessage `json:"extra,omitempty"`
}

// Duration is a length of time that shows as text in JSON ("8m30s").
type Duration time.Duration

// MarshalJSON writes d as Go's duration text.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads Go's duration text.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// HistorySource reads the scan history of a tenant. Both methods stream
// sessions to fn as ListFunc does agents, and return a non-nil error
// whenever the reading is incomplete, including an error from fn.
// ListStats.Agents counts the sessions handed on.
type HistorySource interface {
	// SessionsByDefinition streams the sessions of the given definitions
	// that ran at or after since (and those without a time). Sessions
	// from it usually carry no targets.
	SessionsByDefinition(ctx context.Context, definitionIDs []string, since time.Time, fn func(ScanSession) error) (ListStats, error)
	// SessionsByID streams the given sessions, with their targets.
	SessionsByID(ctx context.Context, sessionIDs []string, fn func(ScanSession) error) (ListStats, error)
}
