package defendertest

import (
	"encoding/json"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/agentsync/agentsync/internal/credential"
	"github.com/agentsync/agentsync/scanagent"
)

// Agent is one scan agent as the simulated API holds it. Empty strings are
// sent as null; a zero time as .NET's "never", 0001-01-01T00:00:00Z.
type Agent struct {
	ID                     string
	MachineID              string
	ComputerDNSName        string
	AssignedApplicationID  string
	ScannerSoftwareVersion string
	MDEClientVersion       string
	LastSeen               time.Time
	LastCommandExecution   time.Time
	// Extra holds fields the API sends beyond the documented ones, sent
	// under these keys as given, in key order.
	Extra map[string]any
}

// Record is the normalized record an extractor should make of a: times in
// UTC truncated to microseconds, Extra values as JSON.
func (a Agent) Record() scanagent.Record {
	rec := scanagent.Record{
		ID:                     a.ID,
		MachineID:              a.MachineID,
		ComputerDNSName:        a.ComputerDNSName,
		AssignedApplicationID:  a.AssignedApplicationID,
		ScannerSoftwareVersion: scanagent.Version(a.ScannerSoftwareVersion),
		MDEClientVersion:       scanagent.Version(a.MDEClientVersion),
		LastSeen:               normalTime(a.LastSeen),
		LastCommandExecutionAt: normalTime(a.LastCommandExecution),
	}
	rec.Extra = keptExtra(a.Extra, nil)
	return rec
}

func normalTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// Casing is how the API spells the agents' keys.
type Casing int

const (
	// CasingVendor spells keys as the vendor's published example does:
	// camelCase, except AssignedApplicationId, ScannerSoftwareVersion and
	// LastCommandExecutionTimestamp in PascalCase.
	CasingVendor Casing = iota
	// CasingCamel spells every key in camelCase, as sibling pages do.
	CasingCamel
	// CasingPascal spells every key in PascalCase.
	CasingPascal
	// CasingSnake spells every key in snake_case.
	CasingSnake
	// CasingMixed picks one of the casings above for each agent, by its id.
	CasingMixed
)

// String names the casing.
func (c Casing) String() string {
	switch c {
	case CasingVendor:
		return "vendor"
	case CasingCamel:
		return "camel"
	case CasingPascal:
		return "pascal"
	case CasingSnake:
		return "snake"
	case CasingMixed:
		return "mixed"
	}
	return "casing(" + strconv.Itoa(int(c)) + ")"
}

// keys spells the eight documented keys, in the order of the vendor's
// example: id, machineId, lastSeen, computerDnsName,
// AssignedApplicationId, ScannerSoftwareVersion,
// LastCommandExecutionTimestamp, mdeClientVersion.
var keys = map[Casing][8]string{
	CasingVendor: {"id", "machineId", "lastSeen", "computerDnsName", "AssignedApplicationId", "ScannerSoftwareVersion", "LastCommandExecutionTimestamp", "mdeClientVersion"},
	CasingCamel:  {"id", "machineId", "lastSeen", "computerDnsName", "assignedApplicationId", "scannerSoftwareVersion", "lastCommandExecutionTimestamp", "mdeClientVersion"},
	CasingPascal: {"Id", "MachineId", "LastSeen", "ComputerDnsName", "AssignedApplicationId", "ScannerSoftwareVersion", "LastCommandExecutionTimestamp", "MdeClientVersion"},
	CasingSnake:  {"id", "machine_id", "last_seen", "computer_dns_name", "assigned_application_id", "scanner_software_version", "last_command_execution_timestamp", "mde_client_version"},
}

// RenderPage writes one page of the listing as the API does: an OData
// collection whose @odata.context is under base, with nextLink when not
// empty. Tests and benchmarks use it for bodies without a server.
func RenderPage(base string, agents []Agent, casing Casing, nextLink string) []byte {
	b := make([]byte, 0, 64+len(agents)*420)
	b = append(b, `{"@odata.context":`...)
	b = appendString(b, base+"/api/$metadata#DeviceAuthenticatedScanAgents")
	b = append(b, `,"value":[`...)
	for i, a := range agents {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendAgent(b, a, casing)
	}
	b = append(b, ']')
	if nextLink != "" {
		b = append(b, `,"@odata.nextLink":`...)
		b = appendString(b, nextLink)
	}
	return append(b, '}')
}

func appendAgent(b []byte, a Agent, casing Casing) []byte {
	if casing == CasingMixed {
		h := fnv.New32a()
		h.Write([]byte(a.ID))
		casing = Casing(h.Sum32() % 4)
	}
	k := keys[casing]
	b = append(b, '{')
	b = appendMember(b, k[0], a.ID, true)
	b = appendMember(b, k[1], a.MachineID, false)
	b = appendTimeMember(b, k[2], a.LastSeen)
	b = appendMember(b, k[3], a.ComputerDNSName, false)
	b = appendMember(b, k[4], a.AssignedApplicationID, false)
	b = appendMember(b, k[5], a.ScannerSoftwareVersion, false)
	b = appendTimeMember(b, k[6], a.LastCommandExecution)
	b = appendMember(b, k[7], a.MDEClientVersion, false)
	for _, key := range slices.Sorted(maps.Keys(a.Extra)) {
		b = append(b, ',')
		b = appendString(b, key)
		b = append(b, ':')
		b = append(b, mustJSON(a.Extra[key])...)
	}
	return append(b, '}')
}

func appendMember(b []byte, key, value string, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = appendString(b, key)
	b = append(b, ':')
	if value == "" {
		return append(b, "null"...)
	}
	return appendString(b, value)
}

func appendTimeMember(b []byte, key string, t time.Time) []byte {
	b = append(b, ',')
	b = appendString(b, key)
	b = append(b, ':', '"')
	b = appendTimestamp(b, t)
	return append(b, '"')
}

// appendTimestamp writes t as .NET does: UTC, up to seven fractional
// digits with trailing zeros dropped, "Z"; the zero time is
// DateTime.MinValue.
func appendTimestamp(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "0001-01-01T00:00:00Z"...)
	}
	t = t.UTC()
	b = t.AppendFormat(b, "2006-01-02T15:04:05")
	if ticks := t.Nanosecond() / 100; ticks > 0 {
		frac := strconv.AppendInt(nil, int64(ticks)+1e7, 10)[1:] // seven digits, zero-padded
		for frac[len(frac)-1] == '0' {
			frac = frac[:len(frac)-1]
		}
		b = append(b, '.')
		b = append(b, frac...)
	}
	return append(b, 'Z')
}

// appendString writes s as a JSON string, quickly for the plain ASCII of
// ids and versions.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return append(b, mustJSON(s)...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// keptExtra is what a record keeps of extra, fields beyond the
// documented ones: every member whose name may hold a credential is
// removed, at any depth, and with dropObject so is every object-valued
// member it reports (see internal/credential). Nil when nothing is left.
func keptExtra(extra map[string]any, dropObject func(string) bool) map[string]json.RawMessage {
	if len(extra) == 0 {
		return nil
	}
	out := make(map[string]json.RawMessage, len(extra))
	for k, v := range extra {
		out[k] = mustJSON(v)
	}
	credential.Members(out, dropObject)
	if len(out) == 0 {
		return nil
	}
	return out
}

func mustJSON(v any) []byte {
	out, err := json.Marshal(v)
	if err != nil {
		panic("defendertest: cannot encode an extra field: " + err.Error())
	}
	return out
}
