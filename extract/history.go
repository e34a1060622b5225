package extract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/agentsync/agentsync/internal/idset"
	"github.com/agentsync/agentsync/internal/safetext"
	"github.com/agentsync/agentsync/scanagent"
)

// SessionsByDefinition streams the scan sessions of the given definitions
// that ran at or after since (all of them when since is zero), from
// POST .../GetScanHistoryByScanDefinitionId: the ids go in batches of
// Config.HistoryBatchSize, each batch read in pages of
// Config.HistoryPageSize with $top and $skip until a short page (bounded
// by Config.PageCap; a nextLink, if ever sent, is followed). When the API
// lists sessions newest first, paging stops at the first page that
// reaches before since; in any other order every page is read. Sessions
// without a time are always handed on.
//
// It shares the client's rate budget, retries, timeouts, body limits and
// errors with List. A session without a definition id, or with a field
// that cannot be read, is rejected (counted and logged); a session listed
// twice is counted in Duplicates and handed on again. A session whose id
// is not a string is rejected without an id. The fields repaired to be
// stored are counted as List counts agents', but not logged: a run reads
// the history twice (by definition, then by session), and its caller logs
// both readings' repairs in one line (see scanagent.ListStats.LogRepairs).
// It satisfies scanagent.HistorySource with SessionsByID.
func (c *Client) SessionsByDefinition(ctx context.Context, definitionIDs []string, since time.Time, fn func(scanagent.ScanSession) error) (scanagent.ListStats, error) {
	r := &sessionReader{c: c, fn: fn, since: since, seen: idset.New()}
	err := c.readBatches(ctx, r, definitionIDs, c.ep.historyByDefinition, c.cfg.HistoryPageSize,
		func(batch []string) any { return struct{ ScanDefinitionIds []string }{batch} })
	c.logCredentialsRemoved("scan history by definition", r.st)
	if err != nil {
		return r.st, fmt.Errorf("scan history by definition: %w", err)
	}
	return r.st, nil
}

// SessionsByID streams the given sessions with their targets, from
// POST .../GetScanHistoryBySessionId, in batches of
// Config.HistoryBatchSize ids. No paging is documented for it: a nextLink
// is followed if ever sent. Otherwise as SessionsByDefinition, but of the
// fields repaired it counts only the targets': the sessions it reads were
// handed on, and counted, by a reading by definition.
func (c *Client) SessionsByID(ctx context.Context, sessionIDs []string, fn func(scanagent.ScanSession) error) (scanagent.ListStats, error) {
	r := &sessionReader{c: c, fn: fn, seen: idset.New(), byID: true}
	err := c.readBatches(ctx, r, sessionIDs, c.ep.historyBySession, 0,
		func(batch []string) any { return struct{ SessionIds []string }{batch} })
	c.logCredentialsRemoved("scan history by session", r.st)
	if err != nil {
		return r.st, fmt.Errorf("scan history by session: %w", err)
	}
	return r.st, nil
}

// History streams the sessions of every scan definition of the tenant
// that ran at or after since, each with its targets when the API lists
// them: it lists the definitions, reads their history, then reads the
// sessions that have an id again by id for their targets. It keeps the
// sessions of one reading in memory (a week of a large tenant is a few
// thousand). It is what "agentsync fetch --resource history" prints; a
// sync reads the same endpoints through the loader, which knows what is
// stored already.
func (c *Client) History(ctx context.Context, since time.Time, fn func(scanagent.ScanSession) error) (scanagent.ListStats, error) {
	var st scanagent.ListStats
	// One line for both readings of the history.
	defer func() { c.logRepairs("scan history", st) }()
	add := func(s scanagent.ListStats) {
		st.Requests += s.Requests
		st.Pages += s.Pages
		st.Rejected += s.Rejected
		st.Unidentified += s.Unidentified
		st.Duplicates += s.Duplicates
		st.CredentialsRemoved += s.CredentialsRemoved
		st.AddRepairs(s)
		for _, name := range s.CredentialNames {
			if !slices.Contains(st.CredentialNames, name) && len(st.CredentialNames) < maxCredentialNames {
				st.CredentialNames = append(st.CredentialNames, name)
			}
		}
	}
	var ids []string
	ds, err := c.ListDefinitions(ctx, func(d scanagent.ScanDefinition) error {
		if !slices.Contains(ids, d.ID) {
			ids = append(ids, d.ID)
		}
		return nil
	})
	st.Requests, st.Pages = ds.Requests, ds.Pages
	st.CredentialsRemoved, st.CredentialNames = ds.CredentialsRemoved, ds.CredentialNames
	if err != nil {
		return st, err
	}
	var sessions []scanagent.ScanSession
	hs, err := c.SessionsByDefinition(ctx, ids, since, func(s scanagent.ScanSession) error {
		sessions = append(sessions, s)
		return nil
	})
	add(hs)
	if err != nil {
		return st, err
	}
	var want []string
	for _, s := range sessions {
		if s.SessionID != "" && !s.TargetsReported && !slices.Contains(want, s.SessionID) {
			want = append(want, s.SessionID)
		}
	}
	full := make(map[string]scanagent.ScanSession, len(want))
	bs, err := c.SessionsByID(ctx, want, func(s scanagent.ScanSession) error {
		if s.SessionID != "" {
			full[s.SessionID] = s
		}
		return nil
	})
	add(bs)
	if err != nil {
		return st, err
	}
	for _, s := range sessions {
		if f, ok := full[s.SessionID]; ok && s.SessionID != "" {
			s = mergeSession(s, f)
		}
		st.Agents++
		if err := fn(s); err != nil {
			return st, err
		}
	}
	return st, nil
}

// mergeSession is a session as two readings describe it: what later
// (usually the history by session, with the targets) sent wins, and what
// only earlier sent (the scanner id of the history by definition) stays.
func mergeSession(earlier, later scanagent.ScanSession) scanagent.ScanSession {
	out := later
	if out.ScannerID == "" {
		out.ScannerID = earlier.ScannerID
	}
	if out.Status == "" {
		out.Status = earlier.Status
	}
	if out.ScannedAt.IsZero() {
		out.ScannedAt = earlier.ScannedAt
	}
	if out.Targets == nil {
		out.Targets = earlier.Targets
	}
	if out.SucceededTargets == nil {
		out.SucceededTargets = earlier.SucceededTargets
	}
	if out.GeneralError == "" {
		out.GeneralError = earlier.GeneralError
	}
	if !out.TargetsReported {
		out.TargetsReported, out.ScannedTargets = earlier.TargetsReported, earlier.ScannedTargets
	}
	return out
}

// readBatches reads ids in batches of Config.HistoryBatchSize, each as one
// collection POSTed to u with the body body(batch) makes. With no ids it
// makes no request, but still gets a token: a tenant that cannot
// authenticate fails its reading rather than reading nothing.
func (c *Client) readBatches(ctx context.Context, r *sessionReader, ids []string, u *url.URL, top int, body func([]string) any) error {
	if len(ids) == 0 {
		return c.authenticate(ctx)
	}
	for batch := range slices.Chunk(ids, c.cfg.HistoryBatchSize) {
		b, err := json.Marshal(body(batch))
		if err != nil {
			return err
		}
		r.startBatch()
		col := collection{
			first: request{method: http.MethodPost, url: u, body: b},
			top:   top,
			soFar: func() int { return r.st.Agents },
		}
		if !r.since.IsZero() {
			col.enough = r.enough
		}
		pages, err := c.readCollection(ctx, col, &r.st.Requests, r.element)
		r.st.Pages += pages
		if err != nil {
			return err
		}
	}
	return nil
}

// sessionReader turns the elements of a history reading into sessions.
type sessionReader struct {
	c     *Client
	fn    func(scanagent.ScanSession) error
	since time.Time
	seen  idset.Set
	st    scanagent.ListStats
	// byID is set for the reading by session, which counts only the
	// repairs of the targets (see noteSessionRepairs).
	byID bool
	// newest first so far in this batch, and the time of its last
	// session: once it reaches before since, the rest is older still.
	descending bool
	last       time.Time
}

func (r *sessionReader) startBatch() { r.descending, r.last = true, time.Time{} }

// enough reports that the batch, listed newest first, has reached before
// since.
func (r *sessionReader) enough() bool {
	return r.descending && !r.last.IsZero() && r.last.Before(r.since)
}

func (r *sessionReader) element(e element) error {
	c, st := r.c, &r.st
	s, n := normalizeSession(e.members, e.secrets...)
	if e.notObject != "" {
		n.reason = e.notObject
	}
	if n.reason != "" {
		st.Rejected++
		if s.SessionID != "" {
			st.RejectedIDs = append(st.RejectedIDs, s.SessionID)
		} else {
			st.Unidentified++
		}
		c.log.Warn("scan session rejected", "page", e.page, "index", e.index,
			"session_id", safetext.Cut(s.SessionID, nameBytes, e.secrets...), "reason", n.reason)
		return nil
	}
	if !s.ScannedAt.IsZero() {
		if !r.last.IsZero() && s.ScannedAt.After(r.last) {
			r.descending = false
		}
		r.last = s.ScannedAt
		if s.ScannedAt.Before(r.since) {
			return nil
		}
	}
	id := s.SessionID
	if id == "" {
		id = s.DefinitionID + "\x00" + s.ScannedAt.Format(time.RFC3339Nano)
	}
	n.log(c, "scan session", s.SessionID, e)
	// Before anything keeps, logs or prints the session.
	s.Extra = scrub(s.Extra, nil, st, e.secrets)
	for i := range s.ScannedTargets {
		s.ScannedTargets[i].Extra = scrub(s.ScannedTargets[i].Extra, nil, st, e.secrets)
	}
	noteSessionRepairs(st, &s, e.members, r.byID, e.secrets)
	if r.seen.Add(id) {
		st.Duplicates++
		c.log.Warn("scan session listed twice; the last one counts", "page", e.page,
			"definition_id", safetext.Cut(s.DefinitionID, nameBytes, e.secrets...), "session_id", safetext.Cut(s.SessionID, nameBytes, e.secrets...))
	}
	st.Agents++
	return r.fn(s)
}

// Fields of a scan session and of its targets. The vendor's pages spell
// them in plural PascalCase (ScanDefinitionIds, SessionIds,
// ListScannedTargets), the service's metadata in singular camelCase
// (scanDefinitionId, sessionId, scannedTargets); both name one field.
const (
	sesDefinition   = "scanDefinitionId"
	sesSession      = "sessionId"
	sesScanner      = "scannerId"
	sesStatus       = "scanStatus"
	sesScannedAt    = "lastScanned"
	sesTargets      = "numberOfTargets"
	sesSucceeded    = "numberOfSuccessfullyScannedTargets"
	sesGeneralError = "generalErrorMessage"
	sesTargetList   = "scannedTargets"
	sesOrgID        = "orgId"
)

var sessionFields = func() map[string]string {
	m := canonicalFields(sesDefinition, sesSession, sesScanner, sesStatus, sesScannedAt, sesTargets, sesSucceeded,
		sesGeneralError, sesTargetList, sesOrgID)
	m[canonicalKey("ScanDefinitionIds")] = sesDefinition
	m[canonicalKey("SessionIds")] = sesSession
	m[canonicalKey("ListScannedTargets")] = sesTargetList
	return m
}()

var targetFields = func() map[string]string {
	m := canonicalFields("ip", "hostname", "scannedDeviceDescription", "errorMessage", "scanStatus", "scanDuration")
	m["status"] = "scanStatus"
	return m
}()

// normalizeSession turns one history object into a session (see
// normalizeAgent for the rules every string and time follows). A session
// without a definition id, with a field that cannot be read, or with a
// target that is no object is rejected; a target's unreadable duration is
// left empty, with a note.
func normalizeSession(members []member, secrets ...string) (s scanagent.ScanSession, n normalized) {
	keys := fieldKeys{secrets: secrets}
	sawDefinition := ""
	for _, m := range members {
		f, known := sessionFields[canonicalKey(m.key)]
		if !known {
			if s.Extra == nil {
				s.Extra = make(map[string]json.RawMessage)
			}
			s.Extra[cleanString(m.key)] = cleanRawJSON(m.value)
			continue
		}
		keys.set(f, m.key, m.value)
		var why string
		switch f {
		case sesDefinition:
			s.DefinitionID, why = oneID(m.value)
			sawDefinition = m.key
		case sesSession:
			s.SessionID, why = sessionID(m.value, secrets)
		case sesScanner:
			s.ScannerID, why = stringValue(m.value)
		case sesStatus:
			s.Status, why = stringValue(m.value)
		case sesGeneralError:
			s.GeneralError, why = stringValue(m.value)
		case sesScannedAt:
			s.ScannedAt, why = timeValue(m.value, secrets)
		case sesTargets:
			s.Targets, why = intValue(m.value, secrets)
		case sesSucceeded:
			s.SucceededTargets, why = intValue(m.value, secrets)
		case sesTargetList:
			var notes []string
			s.ScannedTargets, notes, why = scannedTargets(m.value, secrets)
			s.TargetsReported = why == ""
			n.notes = append(n.notes, notes...)
		case sesOrgID:
			// The tenant's organisation id, which tenant_id names.
		}
		if why != "" && n.reason == "" {
			n.reason = fmt.Sprintf("%s: %s", safetext.Cut(m.key, nameBytes, secrets...), why)
		}
	}
	n.conflicts = keys.list
	switch {
	case n.reason != "":
	case sawDefinition == "":
		n.reason = "no definition id"
	case s.DefinitionID == "":
		n.reason = fmt.Sprintf("%s: empty or null definition id", safetext.Cut(sawDefinition, nameBytes, secrets...))
	}
	if n.reason != "" {
		return scanagent.ScanSession{DefinitionID: s.DefinitionID, SessionID: s.SessionID}, normalized{reason: n.reason}
	}
	return s, n
}

// oneID reads an id the pages spell in the plural (ScanDefinitionIds,
// SessionIds) yet send as one string; an array of exactly one string is
// read as that string.
func oneID(raw json.RawMessage) (string, string) {
	if raw[0] == '[' {
		values := arrayValues(raw)
		if len(values) != 1 {
			return "", fmt.Sprintf("want one id, got an array of %d", len(values))
		}
		raw = values[0]
		if raw[0] != '"' && raw[0] != 'n' {
			return "", "want an id string in the array"
		}
	}
	return stringValue(raw)
}

// sessionID reads a session's id as oneID does, but, like the id of an
// agent or a definition (see idValue), only a string is an id: a session
// whose id is a number, a boolean or an object is rejected, without an id.
func sessionID(raw json.RawMessage, secrets []string) (string, string) {
	if raw[0] == '[' {
		return oneID(raw)
	}
	return idValue(raw, secrets)
}

// maxTargetsAhead bounds the targets a session's reading makes room for
// before reading them.
const maxTargetsAhead = 1024

// scannedTargets reads ListScannedTargets: an array of target objects,
// one object for a single target, or null for none. The array is read in
// one pass, each target's members as it comes (a busy scanner's session
// lists hundreds).
func scannedTargets(raw json.RawMessage, secrets []string) (targets []scanagent.ScanTarget, notes []string, reason string) {
	add := func(i int, members []member) string {
		t, note, why := normalizeTarget(members, secrets)
		if why != "" {
			return fmt.Sprintf("target %d: %s", i, why)
		}
		if note != "" {
			notes = append(notes, fmt.Sprintf("target %d: %s", i, note))
		}
		targets = append(targets, t)
		return ""
	}
	switch raw[0] {
	case 'n':
		return []scanagent.ScanTarget{}, nil, ""
	case '{':
		if why := add(0, objectMembers(raw)); why != "" {
			return nil, nil, why
		}
		return targets, notes, ""
	case '[':
	default:
		return nil, nil, "want an array of targets"
	}
	d := newDecoder(raw, true, nil)
	if _, err := d.dec.ReadToken(); err != nil { // '['
		return nil, nil, "want an array of targets" // unreachable: raw is valid
	}
	// As many targets as the array holds objects, at most (braces in
	// strings count too: bounded, so that a body of braces is no
	// allocation of its size, and the slice grows past it if need be).
	targets = make([]scanagent.ScanTarget, 0, min(bytes.Count(raw, []byte{'{'}), maxTargetsAhead))
	var members []member
	for i := 0; d.dec.PeekKind() != ']'; i++ {
		if d.dec.PeekKind() != '{' {
			return nil, nil, fmt.Sprintf("target %d: want an object", i)
		}
		var err error
		if members, err = d.members(members[:0]); err != nil {
			return nil, nil, fmt.Sprintf("target %d: want an object", i) // unreachable: raw is valid
		}
		if why := add(i, members); why != "" {
			return nil, nil, why
		}
	}
	return targets, notes, ""
}

func normalizeTarget(members []member, secrets []string) (t scanagent.ScanTarget, note, reason string) {
	for _, m := range members {
		f, known := targetFields[canonicalKey(m.key)]
		if !known {
			if t.Extra == nil {
				t.Extra = make(map[string]json.RawMessage)
			}
			t.Extra[cleanString(m.key)] = cleanRawJSON(m.value)
			continue
		}
		var why string
		switch f {
		case "ip":
			t.IP, why = stringValue(m.value)
		case "hostname":
			t.Hostname, why = stringValue(m.value)
		case "scannedDeviceDescription":
			t.Description, why = stringValue(m.value)
		case "errorMessage":
			t.ErrorMessage, why = stringValue(m.value)
		case "scanStatus":
			t.Status, why = stringValue(m.value)
		case "scanDuration":
			d, err := durationValue(m.value)
			switch {
			case err != nil:
				note = fmt.Sprintf("%s: %v, %s; left empty", safetext.Cut(m.key, nameBytes, secrets...), err, describeScalar(m.value, secrets, false))
			default:
				t.Duration = d
			}
		}
		if why != "" {
			return t, "", fmt.Sprintf("%s: %s", safetext.Cut(m.key, nameBytes, secrets...), why)
		}
	}
	return t, note, ""
}

// durationValue reads a scan duration: a string parseScanDuration reads,
// or a number of seconds. null and "" mean "not sent".
func durationValue(raw json.RawMessage) (*scanagent.Duration, error) {
	var d time.Duration
	switch raw[0] {
	case 'n':
		return nil, nil
	case '"':
		s := decodeString(raw)
		if s == "" {
			return nil, nil
		}
		var err error
		if d, err = parseScanDuration(s); err != nil {
			return nil, fmt.Errorf("unreadable duration (%w)", err)
		}
	case '{', '[', 't', 'f':
		return nil, errors.New("want a duration")
	default:
		var secs float64
		if err := json.Unmarshal(raw, &secs); err != nil || secs < 0 || secs > maxScanDuration.Seconds() {
			return nil, errors.New("want a duration")
		}
		d = time.Duration(secs * float64(time.Second)).Truncate(time.Microsecond)
	}
	v := scanagent.Duration(d)
	return &v, nil
}
