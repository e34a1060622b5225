package scanagent

import (
	"context"
	"encoding/json"
	"time"
)

// ScanDefinition is one authenticated scan definition as the Defender API
// reported it, normalized like Record: canonical names, times in UTC cut
// to microseconds, "" or nil where the API sent nothing.
//
// It never holds a credential: of scanAuthenticationParams only the
// variant and the authentication type are kept, every other field of it
// (user names, passwords, community strings, private keys, key vault
// names) is dropped by the extractor before anything is stored or logged,
// as is every member of Extra, at any depth, whose name says it may hold
// a credential, and every undocumented object.
type ScanDefinition struct {
	// ID is the definition id; never empty in a ScanDefinition.
	ID string `json:"id"`
	// Name is the display name (scanName).
	Name string `json:"scan_name,omitempty"`
	// ScanType is the kind of scan: Network, Windows, Linux,
	// AdvancedActive, or another the API sends.
	ScanType string `json:"scan_type,omitempty"`
	// IsActive says whether the scan is switched on; nil when not sent.
	IsActive *bool `json:"is_active,omitempty"`
	// IntervalHours is the number of hours between runs; nil when not
	// sent.
	IntervalHours *int `json:"interval_hours,omitempty"`
	// Target lists what the scan covers: IP addresses, ranges or host
	// names, comma-separated, as sent.
	Target string `json:"target,omitempty"`
	// TargetType says how to read Target: Ip, Hostname, Combined.
	TargetType string `json:"target_type,omitempty"`
	// ScannerAgentID is the id of the scan agent that runs the scan
	// (scannerAgent.id), the agent_id of the agents listing.
	ScannerAgentID string `json:"scanner_agent_id,omitempty"`
	// AuthVariant is the kind of credentials the scan uses, the variant
	// of scanAuthenticationParams without its namespace: SnmpAuthParams,
	// WindowsAuthParams, LinuxAuthParams.
	AuthVariant string `json:"auth_variant,omitempty"`
	// AuthType is the authentication type within the variant
	// (scanAuthenticationParams.type): AuthPriv, CommunityString,
	// Kerberos, PrivateKey...
	AuthType string `json:"auth_type,omitempty"`
	// CreatedBy is the identity that created the definition.
	CreatedBy string `json:"created_by,omitempty"`
	// LatestScan is the outcome of the definition's last run, nil when
	// the API sent none or the scan never ran.
	LatestScan *LatestScan `json:"latest_scan,omitempty"`
	// Extra holds the fields the API sent that have no field above, keyed
	// exactly as sent, with their raw JSON values. Nil when there are
	// none.
	Extra map[string]json.RawMessage `json:"extra,omitempty"`
}

// LatestScan is the latestScan of a definition: its last run.
type LatestScan struct {
	// Status is the outcome as sent: Success, Fail.
	Status string `json:"status,omitempty"`
	// FailureReason says why it failed, when the API says.
	FailureReason string `json:"failure_reason,omitempty"`
	// ExecutedAt is when it ran (executionDateTime); zero when not sent.
	ExecutedAt time.Time `json:"executed_at,omitzero"`
}

// DefinitionListFunc streams every scan definition of one tenant to fn, as
// ListFunc does agents: an id may repeat (the last record counts), and it
// returns a non-nil error whenever the listing is incomplete, including an
// error from fn. ListStats.Agents counts the definitions handed on.
type DefinitionListFunc func(ctx context.Context, fn func(ScanDefinition) error) (ListStats, error)
