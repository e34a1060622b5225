package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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
	// The key that set each field, as sent ("" while none has: the key of a
	// known field is never empty): made safe to show only when shown, since
	// the check costs more than reading the agent.
	var setBy [numFields]string
	safe := func(key string) string { return safetext.Cut(key, nameBytes, secrets...) }
	for _, m := range members {
		f, known := knownFields[canonicalKey(m.key)]
		if !known {
			if rec.Extra == nil {
				rec.Extra = make(map[string]json.RawMessage)
			}
			rec.Extra[cleanString(m.key)] = cleanRawJSON(m.value)
			continue
		}
		key := m.key
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
			if f == fieldID {
				s, why = idValue(m.value, secrets)
			} else {
				s, why = stringValue(m.value)
			}
			if why == "" {
				dst := stringField(&rec, f)
				changed = *dst != s
				*dst = s
			}
		}
		if why != "" {
			// Keep reading: the id may come later, and the log needs it.
			if reason == "" {
				reason = fmt.Sprintf("%s: %s", safe(key), why)
			}
			continue
		}
		if setBy[f] != "" && changed {
			conflicts = append(conflicts, conflict{field: fieldName(f), first: safe(setBy[f]), second: safe(key)})
		}
		setBy[f] = key
	}
	switch {
	case reason != "":
	case setBy[fieldID] == "":
		reason = "no id"
	case rec.ID == "":
		reason = fmt.Sprintf("%s: empty or null id", safe(setBy[fieldID]))
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

// idValue reads the id of an agent or a scan definition: a string, or
// null or "" for none. An id sent as anything else (a number, a boolean,
// an object or an array) is no usable id: the digits of a number could
// name a record the API never meant, so the record is rejected, without
// an id, and its listing deletes nothing.
func idValue(raw json.RawMessage, secrets []string) (string, string) {
	switch raw[0] {
	case '"', 'n':
		return stringValue(raw)
	case 't', 'f':
		return "", fmt.Sprintf("want an id string, got boolean %s", raw)
	case '{':
		return "", "want an id string, got an object"
	case '[':
		return "", "want an id string, got an array"
	default:
		return "", fmt.Sprintf("want an id string, got number %s", safetext.Cut(string(raw), valueBytes, secrets...))
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

// intValue reads a whole-number field: a JSON integer, or a string of
// one. JSON null and "" mean "not set" (nil).
func intValue(raw json.RawMessage, secrets []string) (n *int, reason string) {
	s := string(raw)
	switch raw[0] {
	case 'n':
		return nil, ""
	case '"':
		s = strings.TrimSpace(cleanString(decodeString(raw)))
		if s == "" {
			return nil, ""
		}
	case 't', 'f':
		return nil, fmt.Sprintf("want a whole number, got boolean %s", raw)
	case '{':
		return nil, "want a whole number, got an object"
	case '[':
		return nil, "want a whole number, got an array"
	}
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return nil, fmt.Sprintf("want a whole number, got %s", quote(s, secrets))
	}
	i := int(v)
	return &i, ""
}

// boolValue reads a boolean field: true or false, or a string of one.
// JSON null and "" mean "not set" (nil).
func boolValue(raw json.RawMessage, secrets []string) (b *bool, reason string) {
	var s string
	switch raw[0] {
	case 'n':
		return nil, ""
	case 't', 'f':
		s = string(raw)
	case '"':
		s = strings.TrimSpace(cleanString(decodeString(raw)))
		if s == "" {
			return nil, ""
		}
	case '{':
		return nil, "want a boolean, got an object"
	case '[':
		return nil, "want a boolean, got an array"
	default:
		return nil, fmt.Sprintf("want a boolean, got number %s", safetext.Cut(string(raw), valueBytes, secrets...))
	}
	switch strings.ToLower(s) {
	case "true":
		v := true
		return &v, ""
	case "false":
		v := false
		return &v, ""
	}
	return nil, fmt.Sprintf("want a boolean, got %s", quote(s, secrets))
}

// maxScanDuration bounds a target's scan duration: far beyond any scan,
// and within what PostgreSQL's interval and Go's Duration hold.
const maxScanDuration = 100 * 365 * 24 * time.Hour

// parseScanDuration reads a target's scan duration as the API may send
// it: Edm.TimeOfDay "hh:mm:ss" with up to 7 fractional digits (the
// vendor's "00:08:30"), .NET's TimeSpan "d.hh:mm:ss", or ISO 8601
// "PT8M30S" (OData's Edm.Duration). The result is cut to microseconds.
func parseScanDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "P") || strings.HasPrefix(s, "p") {
		return parseISODuration(s)
	}
	days := int64(0)
	clock := s
	if i := strings.IndexByte(s, ':'); i >= 0 {
		if j := strings.IndexByte(s[:i], '.'); j >= 0 {
			d, err := strconv.ParseInt(s[:j], 10, 32)
			if err != nil || d < 0 || s[:j] != strconv.FormatInt(d, 10) {
				return 0, errors.New("malformed days")
			}
			if d > int64(maxScanDuration/(24*time.Hour)) {
				return 0, errors.New("out of range")
			}
			days, clock = d, s[j+1:]
		}
	}
	parts := strings.Split(clock, ":")
	if len(parts) != 3 {
		return 0, errors.New("want hh:mm:ss")
	}
	h, errH := strconv.ParseUint(parts[0], 10, 8)
	m, errM := strconv.ParseUint(parts[1], 10, 8)
	secs, frac, _ := strings.Cut(parts[2], ".")
	sec, errS := strconv.ParseUint(secs, 10, 8)
	if errH != nil || errM != nil || errS != nil || h > 23 || m > 59 || sec > 59 ||
		len(parts[0]) != 2 || len(parts[1]) != 2 || len(secs) != 2 {
		return 0, errors.New("want hh:mm:ss")
	}
	d := time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second
	if frac != "" || strings.HasSuffix(parts[2], ".") {
		if len(frac) == 0 || len(frac) > 9 || strings.Trim(frac, "0123456789") != "" {
			return 0, errors.New("malformed fraction of a second")
		}
		n, _ := strconv.ParseUint((frac + "000000000")[:9], 10, 64)
		d += time.Duration(n)
	}
	if d > maxScanDuration {
		return 0, errors.New("out of range")
	}
	return d.Truncate(time.Microsecond), nil
}

// parseISODuration reads an ISO 8601 duration of days, hours, minutes and
// seconds: P1DT2H3M4.5S.
func parseISODuration(s string) (time.Duration, error) {
	rest := strings.ToUpper(s[1:])
	var d time.Duration
	inTime, any := false, false
	units := map[byte]time.Duration{'D': 24 * time.Hour, 'H': time.Hour, 'M': time.Minute, 'S': time.Second}
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return 0, errors.New("malformed ISO 8601 duration")
			}
			inTime, rest = true, rest[1:]
			continue
		}
		i := strings.IndexAny(rest, "DHMS")
		if i <= 0 {
			return 0, errors.New("malformed ISO 8601 duration")
		}
		unit := rest[i]
		if (unit == 'D') == inTime {
			return 0, errors.New("malformed ISO 8601 duration")
		}
		v, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil || v < 0 || strings.Trim(rest[:i], "0123456789.") != "" {
			return 0, errors.New("malformed ISO 8601 duration")
		}
		part := time.Duration(v * float64(units[unit]))
		if v*float64(units[unit]) > float64(maxScanDuration) || d+part > maxScanDuration {
			return 0, errors.New("out of range")
		}
		d += part
		any = true
		rest = rest[i+1:]
	}
	if !any {
		return 0, errors.New("malformed ISO 8601 duration")
	}
	return d.Truncate(time.Microsecond), nil
}
