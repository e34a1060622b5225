package scanagent

import (
	"context"
	"encoding/json"
	"time"
)

// Record is one authenticated scan agent as the Defender API reported it,
// normalized: canonical field names, timestamps in UTC truncated to
// microseconds, and the empty string or zero time where the API sent nothing,
// an empty string or .NET's "never" (0001-01-01T00:00:00Z).
type Record struct {
	// ID is the agent id (`<guid>_<hash>`); never empty in a Record.
	ID string `json:"id"`
	// MachineID is the Defender device id of the host running the scanner.
	MachineID string `json:"machine_id,omitempty"`
	// ComputerDNSName is the host name of that device.
	ComputerDNSName string `json:"computer_dns_name,omitempty"`
	// AssignedApplicationID is the Entra application the scanner runs as.
	AssignedApplicationID string `json:"assigned_application_id,omitempty"`
	// ScannerSoftwareVersion is the version of the scanner software.
	ScannerSoftwareVersion Version `json:"scanner_software_version,omitempty"`
	// MDEClientVersion is the version of the Defender client on the host.
	MDEClientVersion Version `json:"mde_client_version,omitempty"`
	// LastSeen is when the agent last checked in; zero when never.
	LastSeen time.Time `json:"last_seen,omitzero"`
	// LastCommandExecutionAt is when the scanner last ran a command; zero
	// when never.
	LastCommandExecutionAt time.Time `json:"last_command_execution_at,omitzero"`
	// Extra holds the fields the API sent that have no field above, keyed
	// exactly as sent, with their raw JSON values, less every member whose
	// name says it may hold a credential (password, apiKey...), at any
	// depth. Nil when there are none.
	Extra map[string]json.RawMessage `json:"extra,omitempty"`
}

// ListStats describes one listing of a tenant's agents, or of another
// resource: Agents then counts its records (definitions, sessions), and
// the ids are theirs.
type ListStats struct {
	// Requests is the number of HTTP requests made to the API, retries
	// included (token requests excluded).
	Requests int
	// Pages is the number of pages of agents received.
	Pages int
	// Agents is the number of records handed on (agents, or the
	// definitions or sessions of another listing).
	Agents int
	// Rejected is the number of agents dropped as invalid (no id, a
	// malformed timestamp...).
	Rejected int
	// RejectedIDs are the ids of the rejected agents that had one. The
	// agent was listed, only unreadable: the loader keeps it as it was and
	// never takes its absence from the records for a deletion.
	RejectedIDs []string
	// Unidentified is the number of rejected records without a usable id:
	// the id missing, null, "" or not a string, or an element that is no
	// object at all. Any stored agent could be one of them, so the loader
	// deletes no agent after such a listing.
	Unidentified int
	// Duplicates is the number of agents whose id was already listed earlier
	// in the same listing; the later one wins.
	Duplicates int
	// CredentialsRemoved counts the members removed from the records'
	// Extra, at any depth, because their names say they may hold a
	// credential (password, apiKey, communityString...), and the
	// undocumented objects removed from scan definitions: none of them is
	// stored, logged or printed.
	CredentialsRemoved int
	// CredentialNames are the distinct names of those members, each with
	// its path ("settings.apiKey"), sorted and bounded: never their
	// values.
	CredentialNames []string
	// FieldsRepaired counts the fields of the records handed on that had
	// to be repaired to be stored: a NUL character dropped, invalid UTF-8
	// (or a lone UTF-16 surrogate) replaced by U+FFFD. The records are
	// kept with the repaired values.
	FieldsRepaired int
	// RepairedFields are the distinct names of those fields (a member of
	// Extra as "extra.<name>"), and RepairedIDs the ids of the records
	// they belong to, both bounded: never the values.
	RepairedFields, RepairedIDs []string
}

// ListFunc streams every agent of one tenant to fn, one record at a time,
// in the order the API listed them. An id may repeat: the last record with
// an id is the one that counts. ListFunc returns a non-nil error whenever
// the listing is incomplete, for any reason, including an error from fn,
// which it returns unchanged (possibly wrapped).
type ListFunc func(ctx context.Context, fn func(Record) error) (ListStats, error)
