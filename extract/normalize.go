package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentsync/agentsync/internal/safetext"
	"github.com/agentsync/agentsync/scanagent"
)

// member is one key and its raw JSON value in an agent object, in the order
// the API sent them.
type member struct {
	key   string
	value json.RawMessage
}

// field is a scanagent.Record field the API fills.
type field int

const (
	fieldID field = iota
	fieldMachineID
	fieldComputerDNSName
	fieldAssignedApplicationID
	fieldScannerSoftwareVersion
	fieldMDEClientVersion
	fieldLastSeen
	fieldLastCommandExecution
	numFields
)

// knownFields maps canonical keys (see canonicalKey) to record fields.
var knownFields = map[string]field{
	"id":                            fieldID,
	"machineid":                     fieldMachineID,
	"computerdnsname":               fieldComputerDNSName,
	"assignedapplicationid":         fieldAssignedApplicationID,
	"scannersoftwareversion":        fieldScannerSoftwareVersion,
	"mdeclientversion":              fieldMDEClientVersion,
	"lastseen":                      fieldLastSeen,
	"lastcommandexecutiontimestamp": fieldLastCommandExecution,
}

// maxCanonicalKey is longer than any known key; longer keys cannot match.
const maxCanonicalKey = 64

// canonicalKey folds the API's casings together: "mdeClientVersion",
// "MdeClientVersion" and "mde_client_version" all give "mdeclientversion".
// It returns "" for keys too long to be a known one.
func canonicalKey(k string) string {
	if len(k) > maxCanonicalKey {
		return ""
	}
	var buf [maxCanonicalKey]byte
	n := 0
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '_':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		buf[n] = c
		n++
	}
	return string(buf[:n])
}

// conflict is one field sent twice under different spellings (or the same
// key twice) with different values. The last one wins.
type conflict struct {
	field         string
	first, second string // the keys as sent
}

// normalizeAgent turns one agent object into a record. A non-empty reason
// says why the agent cannot be used; the record then holds only its id, if
// it had a usable one, for the log. conflicts list the fields sent twice
// with different values. Keys and values quoted in reasons and conflicts
// go through safetext.Cut with secrets, the secrets in use.
func normalizeAgent(members []member, secrets ...string) (rec scanagent.Record, conflicts []conflict, reason string) {
	var setBy [numFields]string // the key that set each field, made safe to show
	for _, m := range members {
		f, known := knownFields[canonicalKey(m.key)]
		if !known {
			if rec.Extra == nil {
				rec.Extra = make(map[string]json.RawMessage)
			}
			rec.Extra[cleanString(m.key)] = cleanRawJSON(m.value)
			continue
		}
		key := safetext.Cut(m.key, nameBytes, secrets...)
		var changed bool
		var why string
		switch f {
		case fieldLastSeen, fieldLastCommandExecution:
			var t time.Time
			if t, why = timeValue(m.value, secrets); why == "" {
				dst := timeField(&rec, f)
				changed = !dst.Equal(t)
				*dst = t
			}
		default:
			var s string
			if s, why = stringValue(m.value); why == "" {
				dst := stringField(&rec, f)
				changed = *dst != s
				*dst = s
			}
		}
		if why != "" {
			// Keep reading: the id may come later, and the log needs it.
			if reason == "" {
				reason = fmt.Sprintf("%s: %s", key, why)
			}
			continue
		}
		if setBy[f] != "" && changed {
			conflicts = append(conflicts, conflict{field: fieldName(f), first: setBy[f], second: key})
		}
		setBy[f] = key
	}
	switch {
	case reason != "":
	case setBy[fieldID] == "":
		reason = "no id"
	case rec.ID == "":
		reason = fmt.Sprintf("%s: empty or null id", setBy[fieldID])
	}
	if reason != "" {
		return scanagent.Record{ID: rec.ID}, nil, reason
	}
	return rec, conflicts, ""
}

// fieldName names a field as the vendor's documentation spells it.
func fieldName(f field) string {
	return [numFields]string{"id", "machineId", "computerDnsName", "AssignedApplicationId",
		"ScannerSoftwareVersion", "mdeClientVersion", "lastSeen", "LastCommandExecutionTimestamp"}[f]
}

func stringField(rec *scanagent.Record, f field) *string {
	switch f {
	case fieldID:
		return &rec.ID
	case fieldMachineID:
		return &rec.MachineID
	case fieldComputerDNSName:
		return &rec.ComputerDNSName
	case fieldAssignedApplicationID:
		return &rec.AssignedApplicationID
	case fieldScannerSoftwareVersion:
		return (*string)(&rec.ScannerSoftwareVersion)
	case fieldMDEClientVersion:
		return (*string)(&rec.MDEClientVersion)
	}
	panic(fmt.Sprintf("extract: field %d is not a string", f))
}

func timeField(rec *scanagent.Record, f field) *time.Time {
	if f == fieldLastSeen {
		return &rec.LastSeen
	}
	return &rec.LastCommandExecutionAt
}

// stringValue reads a string field. JSON null and "" both mean "not set"
// and give "". A number is kept as the digits sent (a version sent as 7.1
// is "7.1"). Booleans, objects and arrays cannot be a string: they reject
// the agent.
func stringValue(raw json.RawMessage) (s string, reason string) {
	switch raw[0] {
	case '"':
		return cleanString(decodeString(raw)), ""
	case 'n':
		return "", ""
	case 't', 'f':
		return "", fmt.Sprintf("want a string, got boolean %s", raw)
	case '{':
		return "", "want a string, got an object"
	case '[':
		return "", "want a string, got an array"
	default: // a number: JSON numbers are plain ASCII
		return string(raw), ""
	}
}

// timeValue reads a timestamp field: a string in one of the API's formats
// (see parseTimestamp), "" or null. Anything else rejects the agent; the
// reason quotes the value, made safe with secrets.
func timeValue(raw json.RawMessage, secrets []string) (t time.Time, reason string) {
	switch raw[0] {
	case '"':
		s := cleanString(decodeString(raw))
		t, err := parseTimestamp(s)
		switch {
		case errors.Is(err, errTimestampRange):
			return time.Time{}, fmt.Sprintf("timestamp %s is after year %d", quote(s, secrets), lastYear)
		case err != nil:
			return time.Time{}, fmt.Sprintf("malformed timestamp %s", quote(s, secrets))
		}
		return t, ""
	case 'n':
		return time.Time{}, ""
	default:
		return time.Time{}, fmt.Sprintf("want a timestamp string, got %s", safetext.Cut(string(raw), valueBytes, secrets...))
	}
}

// decodeString unquotes a JSON string literal known to be valid.
func decodeString(raw json.RawMessage) string {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		// Unreachable: the page decoder only hands on valid JSON.
		return ""
	}
	return s
}

// cleanString makes s storable in PostgreSQL: it drops NUL characters,
// which text columns refuse, and replaces each byte of invalid UTF-8 with
// U+FFFD, as encoding/json does inside escaped strings. It is for the data
// of an agent, kept otherwise as sent; text shown in an error or a log
// goes through safetext, which escapes, redacts and bounds.
func cleanString(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s { // ranging yields U+FFFD for each invalid byte
		if r != 0 {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// cleanRawJSON makes an Extra value storable in a jsonb column, which
// refuses \u0000, lone surrogates and invalid UTF-8. Values that have none
// of those are kept byte for byte (copied: raw is a slice of the page);
// the others are decoded, cleaned with cleanString (keys included) and
// encoded again.
func cleanRawJSON(raw json.RawMessage) json.RawMessage {
	if utf8.Valid(raw) && !hasRiskyEscape(raw) {
		return bytes.Clone(raw)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return json.RawMessage("null") // unreachable: raw is valid JSON
	}
	out, err := json.Marshal(cleanValue(v))
	if err != nil {
		return json.RawMessage("null") // unreachable: cleanValue's output always encodes
	}
	return out
}

// hasRiskyEscape reports an escape of NUL or of a UTF-16 surrogate in raw.
// It may report an escaped backslash followed by such text; that only costs
// a needless re-encoding.
func hasRiskyEscape(raw []byte) bool {
	for i := bytes.Index(raw, []byte(`\u`)); i >= 0 && i+5 < len(raw); {
		hex := raw[i+2 : i+6]
		if string(hex) == "0000" || ((hex[0] == 'd' || hex[0] == 'D') && strings.IndexByte("89abcdefABCDEF", hex[1]) >= 0) {
			return true
		}
		next := bytes.Index(raw[i+2:], []byte(`\u`))
		if next < 0 {
			break
		}
		i += 2 + next
	}
	return false
}

func cleanValue(v any) any {
	switch v := v.(type) {
	case string:
		return cleanString(v)
	case []any:
		for i := range v {
			v[i] = cleanValue(v[i])
		}
		return v
	case map[string]any:
		clean := make(map[string]any, len(v))
		for k, e := range v {
			clean[cleanString(k)] = cleanValue(e)
		}
		return clean
	default:
		return v
	}
}
