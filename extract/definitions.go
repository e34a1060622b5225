package extract

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/agentsync/agentsync/internal/idset"
	"github.com/agentsync/agentsync/internal/safetext"
	"github.com/agentsync/agentsync/scanagent"
)

// ListDefinitions streams every scan definition of the tenant to fn, one
// normalized record at a time, from GET /api/DeviceAuthenticatedScanDefinitions,
// following @odata.nextLink if the API ever sends one. It shares the
// client's rate budget, retries, timeouts and body limits with List, and
// fails in the same ways (see List). Rejected and repeated definitions,
// and the fields repaired to be stored, are counted and logged as List
// does agents'.
//
// Of scanAuthenticationParams only the variant and the authentication
// type are read: every other field of it (passwords, community strings,
// private keys, key vault names) is dropped unread, and neither a log
// line nor an error quotes any byte of a definitions body beyond what a
// record keeps. ListDefinitions satisfies scanagent.DefinitionListFunc.
func (c *Client) ListDefinitions(ctx context.Context, fn func(scanagent.ScanDefinition) error) (scanagent.ListStats, error) {
	r := definitionReader{c: c, fn: fn, seen: idset.New()}
	pages, err := c.readCollection(ctx, definitionsCollection(c, &r), &r.st.Requests, r.element)
	r.st.Pages = pages
	c.logCredentialsRemoved("scan definitions", r.st)
	c.logRepairs("scan definitions", r.st)
	if err != nil {
		return r.st, fmt.Errorf("scan definitions: %w", err)
	}
	return r.st, nil
}

// definitionsCollection is the definitions listing: sensitive, since its
// elements may carry credentials.
func definitionsCollection(c *Client, r *definitionReader) collection {
	return collection{
		first:     request{method: http.MethodGet, url: c.ep.definitions},
		sensitive: true,
		soFar:     func() int { return r.st.Agents },
	}
}

// definitionReader turns the elements of the definitions listing into
// records.
type definitionReader struct {
	c    *Client
	fn   func(scanagent.ScanDefinition) error
	seen idset.Set
	st   scanagent.ListStats
}

func (r *definitionReader) element(e element) error {
	c, st := r.c, &r.st
	def, n := normalizeDefinition(e.members, e.secrets...)
	if e.notObject != "" {
		n.reason = e.notObject
	}
	if n.reason != "" {
		st.Rejected++
		if def.ID != "" {
			st.RejectedIDs = append(st.RejectedIDs, def.ID)
		} else {
			st.Unidentified++
		}
		c.log.Warn("scan definition rejected", "page", e.page, "index", e.index, "id", safetext.Cut(def.ID, nameBytes, e.secrets...), "reason", n.reason)
		return nil
	}
	n.log(c, "scan definition", def.ID, e)
	// Before anything keeps, logs or prints the definition.
	countRemoved(st, n.dropped, e.secrets)
	def.Extra = scrub(def.Extra, undocumentedObject, st, e.secrets)
	noteDefinitionRepairs(st, &def, e.members, e.secrets)
	if r.seen.Add(def.ID) {
		st.Duplicates++
		c.log.Warn("scan definition id listed twice; the last one counts", "page", e.page, "id", safetext.Cut(def.ID, nameBytes, e.secrets...))
	}
	st.Agents++
	return r.fn(def)
}

// normalized is what a normalizer says of a record besides the record: why
// it cannot be used (reason), the fields sent twice with different values
// (the last one counts), and notes worth a warning.
type normalized struct {
	reason    string
	conflicts []conflict
	notes     []string
	// dropped are the fields dropped unread for the credential they may
	// hold, to count with what the credential rule removes.
	dropped []string
}

// log writes the conflicts and notes of a record handed on.
func (n normalized) log(c *Client, what, id string, e element) {
	for _, cf := range n.conflicts {
		c.log.Warn(what+" sent a field twice with different values; the last one counts",
			"page", e.page, "id", safetext.Cut(id, nameBytes, e.secrets...), "field", cf.field, "first_key", cf.first, "last_key", cf.second)
	}
	for _, note := range n.notes {
		c.log.Warn(what+": "+note, "page", e.page, "id", safetext.Cut(id, nameBytes, e.secrets...))
	}
}

// fieldKeys remembers which key set each field of a record, to report a
// field sent twice with different values. The values are compared, never
// shown; the keys are made safe to show only for a conflict. A record has
// a dozen fields: a list searched in turn costs less than maps, and the
// values are the record's own bytes, not copies.
type fieldKeys struct {
	byField []fieldSet
	list    []conflict
	secrets []string
}

// fieldSet is the key, as sent, and the value that last set a field.
type fieldSet struct {
	field, key string
	raw        json.RawMessage
}

func (f *fieldKeys) set(field, key string, raw json.RawMessage) {
	for i := range f.byField {
		s := &f.byField[i]
		if s.field != field {
			continue
		}
		if !bytes.Equal(s.raw, raw) {
			f.list = append(f.list, conflict{field: field,
				first: safetext.Cut(s.key, nameBytes, f.secrets...), second: safetext.Cut(key, nameBytes, f.secrets...)})
		}
		s.key, s.raw = key, raw
		return
	}
	if f.byField == nil {
		f.byField = make([]fieldSet, 0, 16)
	}
	f.byField = append(f.byField, fieldSet{field: field, key: key, raw: raw})
}

// Fields of a scan definition, by canonical key (see canonicalKey).
const (
	defID             = "id"
	defName           = "scanName"
	defType           = "scanType"
	defActive         = "isActive"
	defInterval       = "intervalInHours"
	defTarget         = "target"
	defTargetType     = "targetType"
	defCreatedBy      = "createdBy"
	defOrgID          = "orgId"
	defAuth           = "scanAuthenticationParams"
	defScannerAgent   = "scannerAgent"
	defScannerAgentID = "scannerAgentId"
	defLatestScan     = "latestScan"
)

// definitionFields maps canonical keys to the fields above.
var definitionFields = canonicalFields(defID, defName, defType, defActive, defInterval, defTarget, defTargetType,
	defCreatedBy, defOrgID, defAuth, defScannerAgent, defScannerAgentID, defLatestScan)

func canonicalFields(names ...string) map[string]string {
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[canonicalKey(n)] = n
	}
	return m
}

// credentialFields are the fields of scanAuthenticationParams that hold
// or point to a credential, in any variant and spelling (the docs,
// examples, metadata and Microsoft365DSC disagree on some). A definition
// that sends one outside scanAuthenticationParams has it dropped too,
// rather than kept in Extra.
var credentialFields = canonicalFields("username", "password", "domain", "isGmsaUser", "packetPrivacy",
	"packetIntegrity", "communityString", "authProtocol", "authPassword", "privProtocol", "privPassword",
	"privateKey", "keyVaultUri", "keyVaultUrl", "keyVaultSecretName", "credentials", "secret")

// normalizeDefinition turns one scan definition object into a record (see
// normalizeAgent for the rules every string and time follows). Of
// scanAuthenticationParams it keeps the variant and the type; nothing
// else of it is read, and no reason or note quotes it.
func normalizeDefinition(members []member, secrets ...string) (def scanagent.ScanDefinition, n normalized) {
	keys := fieldKeys{secrets: secrets}
	sawID := ""
	for _, m := range members {
		ck := canonicalKey(m.key)
		f, known := definitionFields[ck]
		if !known {
			if _, secret := credentialFields[ck]; secret {
				n.notes = append(n.notes, fmt.Sprintf("field %s dropped unread: it may hold a credential", safetext.Cut(m.key, nameBytes, secrets...)))
				n.dropped = append(n.dropped, m.key)
				continue
			}
			if def.Extra == nil {
				def.Extra = make(map[string]json.RawMessage)
			}
			def.Extra[cleanString(m.key)] = cleanRawJSON(m.value)
			continue
		}
		keys.set(f, m.key, m.value)
		var why string
		switch f {
		case defID:
			def.ID, why = idValue(m.value, secrets)
			sawID = m.key
		case defName:
			def.Name, why = stringValue(m.value)
		case defType:
			def.ScanType, why = stringValue(m.value)
		case defTarget:
			def.Target, why = stringValue(m.value)
		case defTargetType:
			def.TargetType, why = stringValue(m.value)
		case defCreatedBy:
			def.CreatedBy, why = stringValue(m.value)
		case defScannerAgentID:
			def.ScannerAgentID, why = stringValue(m.value)
		case defActive:
			def.IsActive, why = boolValue(m.value, secrets)
		case defInterval:
			def.IntervalHours, why = intValue(m.value, secrets)
		case defOrgID:
			// The tenant's organisation id: the same on every definition
			// of a tenant, which tenant_id already names.
		case defAuth:
			var note string
			def.AuthVariant, def.AuthType, note = authParams(m.value)
			if note != "" {
				n.notes = append(n.notes, note)
			}
		case defScannerAgent:
			def.ScannerAgentID, why = scannerAgentID(m.value)
		case defLatestScan:
			var note string
			def.LatestScan, note = latestScan(m.value, secrets)
			if note != "" {
				n.notes = append(n.notes, note)
			}
		}
		if why != "" && n.reason == "" {
			// Keep reading: the id may come later, and the log needs it.
			n.reason = fmt.Sprintf("%s: %s", safetext.Cut(m.key, nameBytes, secrets...), why)
		}
	}
	n.conflicts = keys.list
	switch {
	case n.reason != "":
	case sawID == "":
		n.reason = "no id"
	case def.ID == "":
		n.reason = fmt.Sprintf("%s: empty or null id", safetext.Cut(sawID, nameBytes, secrets...))
	}
	if n.reason != "" {
		return scanagent.ScanDefinition{ID: def.ID}, normalized{reason: n.reason}
	}
	return def, n
}

// authParams reads scanAuthenticationParams: of it, only the variant (its
// @odata.type, or the older $type) and the authentication type. Every
// other field is skipped unread. A value that is no object is dropped the
// same way. note says what was not kept, without quoting any of it.
func authParams(raw json.RawMessage) (variant, authType, note string) {
	switch raw[0] {
	case 'n':
		return "", "", ""
	case '{':
	default:
		return "", "", "scanAuthenticationParams is not an object; dropped unread"
	}
	for _, m := range objectMembers(raw) {
		switch canonicalKey(m.key) {
		case "@odata.type", "odata.type", "$type", "@type":
			v, ok := typeName(m.value)
			if !ok {
				note = "scanAuthenticationParams' variant is not a type name; not kept"
				continue
			}
			// "#microsoft.windowsDefenderATP.api.SnmpAuthParams" is
			// SnmpAuthParams.
			variant = v[strings.LastIndexByte(v, '.')+1:]
		case "type", "authtype":
			v, ok := typeName(m.value)
			if !ok {
				note = "scanAuthenticationParams' type is not a type name; not kept"
				continue
			}
			authType = v
		}
	}
	return variant, authType, note
}

// typeName reads a type name: a string of letters, digits, '.', '_', '-'
// (a leading '#' dropped), or an enumeration's number. Anything else might
// be a credential sent in the wrong field, and is not kept.
func typeName(raw json.RawMessage) (string, bool) {
	var s string
	switch raw[0] {
	case '"':
		s = strings.TrimPrefix(decodeString(raw), "#")
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		s = string(raw)
	default:
		return "", false
	}
	if s == "" || len(s) > 128 {
		return "", false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return "", false
		}
	}
	return s, true
}

// scannerAgentID reads the id of the embedded scannerAgent. Its other
// fields repeat the agents listing (and its lastSeen would change the
// definition at every sync), so they are not kept.
func scannerAgentID(raw json.RawMessage) (string, string) {
	switch raw[0] {
	case 'n':
		return "", ""
	case '"':
		return stringValue(raw)
	case '{':
	default:
		return "", "want an object"
	}
	id := ""
	for _, m := range objectMembers(raw) {
		if canonicalKey(m.key) == "id" {
			var why string
			if id, why = stringValue(m.value); why != "" {
				return "", "id: " + why
			}
		}
	}
	return id, ""
}

// latestScan reads a definition's latestScan. A value that cannot be read
// is dropped with a note, and the definition kept: it only means that no
// session is recorded from it.
func latestScan(raw json.RawMessage, secrets []string) (*scanagent.LatestScan, string) {
	switch raw[0] {
	case 'n':
		return nil, ""
	case '{':
	default:
		return nil, "latestScan is not an object; not kept"
	}
	var ls scanagent.LatestScan
	for _, m := range objectMembers(raw) {
		var why string
		switch canonicalKey(m.key) {
		case "status":
			ls.Status, why = stringValue(m.value)
		case "failurereason":
			ls.FailureReason, why = stringValue(m.value)
		case "executiondatetime":
			ls.ExecutedAt, why = timeValue(m.value, secrets)
		}
		if why != "" {
			return nil, fmt.Sprintf("latestScan.%s: %s; latestScan not kept", safetext.Cut(m.key, nameBytes, secrets...), why)
		}
	}
	if ls == (scanagent.LatestScan{}) {
		return nil, ""
	}
	return &ls, ""
}
