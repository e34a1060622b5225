package extract

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/agentsync/agentsync/internal/safetext"
	"github.com/agentsync/agentsync/scanagent"
)

// maxRepairNames bounds the field names and the record ids a listing
// reports of its repairs.
const maxRepairNames = scanagent.MaxRepairNames

// needsRepair reports whether a JSON value holds text PostgreSQL cannot
// store as sent: invalid UTF-8, an escaped NUL (\u0000) or a lone UTF-16
// surrogate. cleanString and cleanRawJSON repair such text (the NUL
// dropped, the rest replaced by U+FFFD); this says that they had to.
func needsRepair(raw []byte) bool {
	if !utf8.Valid(raw) {
		return true
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++ // the escaped character: '\\' and '"' are skipped whole
		if i >= len(raw) || raw[i] != 'u' || i+4 >= len(raw) {
			continue
		}
		r := hexRune(raw[i+1 : i+5])
		i += 4
		switch {
		case r == 0:
			return true
		case r >= 0xDC00 && r < 0xE000: // a low surrogate alone
			return true
		case r >= 0xD800 && r < 0xDC00: // a high surrogate: a low one must follow
			if i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
				return true
			}
			if lo := hexRune(raw[i+3 : i+7]); lo < 0xDC00 || lo >= 0xE000 {
				return true
			}
			i += 6
		}
	}
	return false
}

// hexRune reads four hex digits; -1 when they are not.
func hexRune(h []byte) rune {
	var r rune
	for _, c := range h {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return -1
		}
	}
	return r
}

// keyNeedsRepair reports a member name (decoded) that cleanString changes.
func keyNeedsRepair(k string) bool { return !utf8.ValidString(k) || strings.IndexByte(k, 0) >= 0 }

// noteAgentRepairs counts in st the fields of a handed-on agent that were
// repaired to be stored, and keeps their names and the agent's id, made
// safe to log, for the listing's one line about them. Members of Extra
// that were not kept (a credential) are not counted.
func noteAgentRepairs(st *scanagent.ListStats, rec *scanagent.Record, members []member, secrets []string) {
	names := repairedFields(members, func(key string) (string, bool) {
		f, known := knownFields[canonicalKey(key)]
		return fieldName(f), known
	}, rec.Extra, "", secrets)
	noteRepairs(st, rec.ID, names, secrets)
}

// noteDefinitionRepairs is noteAgentRepairs for a scan definition. Of
// scanAuthenticationParams and orgId nothing that could need a repair is
// kept (a variant or a type needing one is not a type name, and is
// dropped), so they count for none.
func noteDefinitionRepairs(st *scanagent.ListStats, def *scanagent.ScanDefinition, members []member, secrets []string) {
	names := repairedFields(members, func(key string) (string, bool) {
		ck := canonicalKey(key)
		if f, known := definitionFields[ck]; known {
			if f == defAuth || f == defOrgID {
				return "", true
			}
			return f, true
		}
		if _, secret := credentialFields[ck]; secret {
			return "", true
		}
		return "", false
	}, def.Extra, "", secrets)
	noteRepairs(st, def.ID, names, secrets)
}

// noteSessionRepairs is noteAgentRepairs for a scan session and its
// targets: a target's field is named "scannedTargets.<field>", and counts
// for the session's id (its definition's id when it has none). The
// session's orgId is not kept, and counts for none. With targetsOnly only
// the targets' fields count: the reading by session reads again sessions
// a reading by definition handed on, and counted, before.
func noteSessionRepairs(st *scanagent.ListStats, s *scanagent.ScanSession, members []member, targetsOnly bool, secrets []string) {
	var targets []json.RawMessage
	names := repairedFields(members, func(key string) (string, bool) {
		f, known := sessionFields[canonicalKey(key)]
		switch {
		case !known:
			return "", false
		case f == sesOrgID:
			return "", true
		case f == sesTargetList:
			return "", true // named by target below
		}
		return f, true
	}, s.Extra, "", secrets)
	if targetsOnly {
		names = nil
	}
	for _, m := range members {
		if f := sessionFields[canonicalKey(m.key)]; f == sesTargetList && needsRepair(m.value) {
			switch m.value[0] {
			case '{':
				targets = []json.RawMessage{m.value}
			case '[':
				targets = arrayValues(m.value)
			}
		}
	}
	for i, v := range targets {
		if i >= len(s.ScannedTargets) || v[0] != '{' {
			break
		}
		names = append(names, repairedFields(objectMembers(v), func(key string) (string, bool) {
			f, known := targetFields[canonicalKey(key)]
			return f, known
		}, s.ScannedTargets[i].Extra, sesTargetList+".", secrets)...)
	}
	id := s.SessionID
	if id == "" {
		id = s.DefinitionID
	}
	noteRepairs(st, id, names, secrets)
}

// repairedFields names the members of a record that were repaired to be
// kept: a known field (named by field, whose "" means not kept) or a
// member of extra ("extra.<name>"), each after prefix. A member of extra
// that was not kept (a credential) is not named.
func repairedFields(members []member, field func(key string) (name string, known bool), extra map[string]json.RawMessage, prefix string, secrets []string) []string {
	var names []string
	for _, m := range members {
		if !keyNeedsRepair(m.key) && !needsRepair(m.value) {
			continue
		}
		if f, known := field(m.key); known {
			if f != "" {
				names = append(names, prefix+f)
			}
			continue
		}
		if _, kept := extra[cleanString(m.key)]; kept {
			names = append(names, prefix+"extra."+safetext.Cut(cleanString(m.key), nameBytes, secrets...))
		}
	}
	return names
}

// noteRepairs counts the repaired fields names of the record id in st,
// and keeps their names and the id, made safe to log, for the reading's
// one line about them.
func noteRepairs(st *scanagent.ListStats, id string, names []string, secrets []string) {
	if len(names) == 0 {
		return
	}
	st.FieldsRepaired += len(names)
	for _, name := range names {
		if i, found := slices.BinarySearch(st.RepairedFields, name); !found && len(st.RepairedFields) < maxRepairNames {
			st.RepairedFields = slices.Insert(st.RepairedFields, i, name)
		}
	}
	if len(st.RepairedIDs) < maxRepairNames {
		st.RepairedIDs = append(st.RepairedIDs, safetext.Cut(id, nameBytes, secrets...))
	}
}

// logRepairs writes a listing's one line about the fields it repaired
// (see scanagent.ListStats.LogRepairs).
func (c *Client) logRepairs(what string, st scanagent.ListStats) { st.LogRepairs(c.log, what) }
