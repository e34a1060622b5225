package defendertest

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentsync/agentsync/scanagent"
)

// Paths of the scan definitions and history endpoints.
const (
	DefinitionsPath         = "/api/DeviceAuthenticatedScanDefinitions"
	HistoryByDefinitionPath = DefinitionsPath + "/GetScanHistoryByScanDefinitionId"
	HistoryBySessionPath    = DefinitionsPath + "/GetScanHistoryBySessionId"
)

// Definition is one scan definition as the simulated API holds it.
// Empty strings are sent as null.
type Definition struct {
	ID            string
	Name          string
	ScanType      string
	IsActive      bool
	IntervalHours int // 0 is sent as null
	Target        string
	TargetType    string
	CreatedBy     string
	OrgID         string
	// ScannerAgent is the embedded scannerAgent; only its id is expected
	// to be kept.
	ScannerAgent Agent
	// Auth is scanAuthenticationParams; nil sends null.
	Auth *AuthParams
	// LatestScan is the outcome of the last run; nil sends null.
	LatestScan *LatestScan
	// Extra holds fields beyond the documented ones, sent as given.
	Extra map[string]any
}

// AuthParams is a definition's scanAuthenticationParams: its variant
// (SnmpAuthParams...), its type, and the credential fields it echoes, as
// the vendor's example does.
type AuthParams struct {
	Variant string
	Type    string
	// Fields are the other members (username, authPassword,
	// communityString...), sent in key order.
	Fields map[string]any
}

// LatestScan is a definition's latestScan.
type LatestScan struct {
	Status        string
	FailureReason string
	ExecutedAt    time.Time
}

// Session is one run of a definition, as the simulated history holds it.
type Session struct {
	DefinitionID string
	SessionID    string
	// ScannerID is the machine id of the scanning agent, as the vendor's
	// example sends it.
	ScannerID    string
	Status       string
	ScannedAt    time.Time
	GeneralError string
	Targets      []Target
}

// Target is one target of a session.
type Target struct {
	IP, Hostname, Description, ErrorMessage, Status string
	Duration                                        time.Duration
}

// Succeeded counts the session's successful targets.
func (s Session) Succeeded() int {
	n := 0
	for _, t := range s.Targets {
		if t.Status == "Success" {
			n++
		}
	}
	return n
}

// Record is the normalized definition an extractor should make of d.
func (d Definition) Record() scanagent.ScanDefinition {
	rec := scanagent.ScanDefinition{
		ID:             d.ID,
		Name:           d.Name,
		ScanType:       d.ScanType,
		IsActive:       &d.IsActive,
		Target:         d.Target,
		TargetType:     d.TargetType,
		CreatedBy:      d.CreatedBy,
		ScannerAgentID: d.ScannerAgent.ID,
	}
	if d.IntervalHours != 0 {
		rec.IntervalHours = &d.IntervalHours
	}
	if d.Auth != nil {
		rec.AuthVariant, rec.AuthType = d.Auth.Variant, d.Auth.Type
	}
	if ls := d.LatestScan; ls != nil {
		rec.LatestScan = &scanagent.LatestScan{Status: ls.Status, FailureReason: ls.FailureReason, ExecutedAt: normalTime(ls.ExecutedAt)}
	}
	if len(d.Extra) > 0 {
		rec.Extra = make(map[string]json.RawMessage, len(d.Extra))
		for k, v := range d.Extra {
			rec.Extra[k] = mustJSON(v)
		}
	}
	return rec
}

// Record is the normalized session an extractor should make of s; with
// targets, as the history by session reports it.
func (s Session) Record(targets bool) scanagent.ScanSession {
	n, ok := len(s.Targets), s.Succeeded()
	rec := scanagent.ScanSession{
		DefinitionID:     s.DefinitionID,
		SessionID:        s.SessionID,
		ScannerID:        s.ScannerID,
		Status:           s.Status,
		ScannedAt:        normalTime(s.ScannedAt),
		Targets:          &n,
		SucceededTargets: &ok,
		GeneralError:     s.GeneralError,
	}
	if targets {
		rec.ScannerID = "" // the history by session names no scanner
		rec.TargetsReported = true
		rec.ScannedTargets = make([]scanagent.ScanTarget, len(s.Targets))
		for i, t := range s.Targets {
			d := scanagent.Duration(t.Duration)
			rec.ScannedTargets[i] = scanagent.ScanTarget{IP: t.IP, Hostname: t.Hostname, Description: t.Description,
				Status: t.Status, ErrorMessage: t.ErrorMessage, Duration: &d}
		}
	}
	return rec
}

// pick returns the casing of one record: c itself, or for CasingMixed one
// of the others by the record's id.
func (c Casing) pick(id string) Casing {
	if c != CasingMixed {
		return c
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	return Casing(h.Sum32() % 4)
}

// spell writes a key documented in camelCase (as the metadata spells it)
// in casing c. Vendor casing is the metadata's too, except where the
// callers pass the vendor's own spelling.
func spell(camel string, c Casing) string {
	if c == CasingCamel {
		return camel
	}
	key := spelling{camel, c}
	if s, ok := spellings.Load(key); ok {
		return s.(string)
	}
	s := spellOut(camel, c)
	spellings.Store(key, s)
	return s
}

// spelling is a name in a casing; spellings holds what spell made of each.
type spelling struct {
	camel  string
	casing Casing
}

var spellings sync.Map

func spellOut(camel string, c Casing) string {
	switch c {
	case CasingPascal:
		return strings.ToUpper(camel[:1]) + camel[1:]
	case CasingSnake:
		var b strings.Builder
		for i, r := range camel {
			if r >= 'A' && r <= 'Z' {
				if i > 0 {
					b.WriteByte('_')
				}
				r += 'a' - 'A'
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	return camel
}

// object writes a JSON object member by member.
type object struct {
	b     []byte
	first bool
}

func newObject(b []byte) *object { return &object{b: append(b, '{'), first: true} }

func (o *object) key(k string) {
	if !o.first {
		o.b = append(o.b, ',')
	}
	o.first = false
	o.b = appendString(o.b, k)
	o.b = append(o.b, ':')
}

func (o *object) str(k, v string) {
	o.key(k)
	if v == "" {
		o.b = append(o.b, "null"...)
		return
	}
	o.b = appendString(o.b, v)
}

func (o *object) raw(k string, v []byte) {
	o.key(k)
	o.b = append(o.b, v...)
}

func (o *object) time(k string, t time.Time) {
	o.key(k)
	if t.IsZero() {
		o.b = append(o.b, "null"...)
		return
	}
	o.b = append(o.b, '"')
	o.b = appendTimestamp(o.b, t)
	o.b = append(o.b, '"')
}

func (o *object) end() []byte { return append(o.b, '}') }

// appendDefinition writes d as GET /api/DeviceAuthenticatedScanDefinitions
// does: camelCase, with the three PascalCase keys of the embedded agent in
// vendor casing, and the credentials of scanAuthenticationParams echoed.
func appendDefinition(b []byte, d Definition, casing Casing) []byte {
	c := casing.pick(d.ID)
	o := newObject(b)
	o.str(spell("id", c), d.ID)
	o.str(spell("scanType", c), d.ScanType)
	o.str(spell("scanName", c), d.Name)
	o.raw(spell("isActive", c), strconv.AppendBool(nil, d.IsActive))
	o.str(spell("target", c), d.Target)
	o.str(spell("orgId", c), d.OrgID)
	if d.IntervalHours != 0 {
		o.raw(spell("intervalInHours", c), strconv.AppendInt(nil, int64(d.IntervalHours), 10))
	} else {
		o.raw(spell("intervalInHours", c), []byte("null"))
	}
	o.str(spell("createdBy", c), d.CreatedBy)
	o.str(spell("targetType", c), d.TargetType)
	o.key(spell("scanAuthenticationParams", c))
	if d.Auth == nil {
		o.b = append(o.b, "null"...)
	} else {
		a := newObject(o.b)
		a.str("@odata.type", "#microsoft.windowsDefenderATP.api."+d.Auth.Variant)
		a.str(spell("type", c), d.Auth.Type)
		for _, k := range slices.Sorted(maps.Keys(d.Auth.Fields)) {
			a.raw(spell(k, c), mustJSON(d.Auth.Fields[k]))
		}
		o.b = a.end()
	}
	o.key(spell("scannerAgent", c))
	if d.ScannerAgent.ID == "" {
		o.b = append(o.b, "null"...)
	} else {
		a := d.ScannerAgent
		k := keys[c]
		e := newObject(o.b)
		e.str(k[0], a.ID)
		e.str(k[1], a.MachineID)
		e.str(spell("machineName", c), a.ComputerDNSName)
		e.time(k[2], a.LastSeen)
		e.str(k[4], a.AssignedApplicationID)
		e.str(k[5], a.ScannerSoftwareVersion)
		e.time(k[6], a.LastCommandExecution)
		e.str(k[7], a.MDEClientVersion)
		o.b = e.end()
	}
	o.key(spell("latestScan", c))
	if d.LatestScan == nil {
		o.b = append(o.b, "null"...)
	} else {
		l := newObject(o.b)
		l.str(spell("status", c), d.LatestScan.Status)
		l.str(spell("failureReason", c), d.LatestScan.FailureReason)
		l.time(spell("executionDateTime", c), d.LatestScan.ExecutedAt)
		o.b = l.end()
	}
	for _, k := range slices.Sorted(maps.Keys(d.Extra)) {
		o.raw(k, mustJSON(d.Extra[k]))
	}
	return o.end()
}

// sessionKeys spells the fields of a history record: the vendor's pages
// (plural PascalCase ids, ListScannedTargets) or the metadata's singular
// camelCase, in the other casings.
func sessionKey(field string, c Casing) string {
	if c == CasingVendor {
		switch field {
		case "scanDefinitionId":
			return "ScanDefinitionIds"
		case "sessionId":
			return "SessionIds"
		case "scannedTargets":
			return "ListScannedTargets"
		case "orgId":
			return "orgId"
		}
		return spell(field, CasingPascal)
	}
	return spell(field, c)
}

// appendSession writes one history record: without targets as the history
// by definition does (with the scanner), with them as the history by
// session does.
func appendSession(b []byte, s Session, casing Casing, targets, sessionIDs bool, orgID string) []byte {
	c := casing.pick(s.SessionID + s.DefinitionID)
	o := newObject(b)
	if targets {
		o.str(sessionKey("orgId", c), orgID)
	}
	o.str(sessionKey("scanDefinitionId", c), s.DefinitionID)
	if sessionIDs {
		o.str(sessionKey("sessionId", c), s.SessionID)
	}
	o.time(sessionKey("lastScanned", c), s.ScannedAt)
	o.str(sessionKey("scanStatus", c), s.Status)
	if !targets {
		o.str(sessionKey("scannerId", c), s.ScannerID)
	}
	o.raw(sessionKey("numberOfTargets", c), strconv.AppendInt(nil, int64(len(s.Targets)), 10))
	o.raw(sessionKey("numberOfSuccessfullyScannedTargets", c), strconv.AppendInt(nil, int64(s.Succeeded()), 10))
	if s.GeneralError != "" {
		o.str(sessionKey("generalErrorMessage", c), s.GeneralError)
	}
	if targets {
		o.key(sessionKey("scannedTargets", c))
		o.b = append(o.b, '[')
		for i, t := range s.Targets {
			if i > 0 {
				o.b = append(o.b, ',')
			}
			tc := c
			if tc == CasingVendor {
				tc = CasingPascal
			}
			e := newObject(o.b)
			e.str(spell("ip", tc), t.IP)
			e.str(spell("hostname", tc), t.Hostname)
			e.str(spell("scannedDeviceDescription", tc), t.Description)
			e.raw(spell("errorMessage", tc), appendString(nil, t.ErrorMessage)) // "" on success, as sent
			e.str(spell("scanStatus", tc), t.Status)
			e.str(spell("scanDuration", tc), timeOfDay(t.Duration))
			o.b = e.end()
		}
		o.b = append(o.b, ']')
	}
	return o.end()
}

// timeOfDay writes d as Edm.TimeOfDay, "hh:mm:ss" with up to seven
// fractional digits.
func timeOfDay(d time.Duration) string {
	d = d.Truncate(100 * time.Nanosecond)
	s := fmt.Sprintf("%02d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
	if frac := d % time.Second; frac > 0 {
		digits := strings.TrimRight(fmt.Sprintf("%07d", int(frac/100)), "0")
		s += "." + digits
	}
	return s
}

// RenderDefinitions writes one page of the definitions listing.
func RenderDefinitions(base string, defs []Definition, casing Casing, nextLink string) []byte {
	b := make([]byte, 0, 256+len(defs)*900)
	b = append(b, `{"@odata.context":`...)
	b = appendString(b, base+"/api/$metadata#DeviceAuthenticatedScanDefinitions")
	b = append(b, `,"value":[`...)
	for i, d := range defs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendDefinition(b, d, casing)
	}
	b = append(b, ']')
	if nextLink != "" {
		b = append(b, `,"@odata.nextLink":`...)
		b = appendString(b, nextLink)
	}
	return append(b, '}')
}

// RenderHistory writes one page of a history action: the history by
// definition (no targets) or by session (with targets). In the vendor's
// casing the last element is followed by a comma, as in the vendor's
// examples, and the context has no "$metadata#" fragment.
func RenderHistory(base, path string, sessions []Session, casing Casing, targets, sessionIDs bool, orgID, nextLink string) []byte {
	size := 256 + len(sessions)*300
	if targets {
		for _, s := range sessions {
			size += len(s.Targets) * 250
		}
	}
	b := make([]byte, 0, size)
	b = append(b, `{"@odata.context":`...)
	b = appendString(b, base+path)
	b = append(b, `,"value":[`...)
	for i, s := range sessions {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSession(b, s, casing, targets, sessionIDs, orgID)
	}
	if casing == CasingVendor && len(sessions) > 0 {
		b = append(b, ",\n   "...)
	}
	b = append(b, ']')
	if nextLink != "" {
		b = append(b, `,"@odata.nextLink":`...)
		b = appendString(b, nextLink)
	}
	return append(b, '}')
}
