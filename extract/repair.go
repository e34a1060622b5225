package extract

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/agentsync/agentsync/internal/safetext"
	"github.com/agentsync/agentsync/scanagent"
)

// maxRepairNames bounds the field names and the record ids a listing
// reports of its repairs: a tenant whose every agent needs one still logs
// one short line.
const maxRepairNames = 20

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
	var names []string
	for _, m := range members {
		if !keyNeedsRepair(m.key) && !needsRepair(m.value) {
			continue
		}
		if f, known := knownFields[canonicalKey(m.key)]; known {
			names = append(names, fieldName(f))
			continue
		}
		if _, kept := rec.Extra[cleanString(m.key)]; kept {
			names = append(names, "extra."+safetext.Cut(cleanString(m.key), nameBytes, secrets...))
		}
	}
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
		st.RepairedIDs = append(st.RepairedIDs, safetext.Cut(rec.ID, nameBytes, secrets...))
	}
}

// logRepairs writes a listing's one line about the fields it repaired:
// how many, their names and the records they belong to (the first
// maxRepairNames of each), never the values.
func (c *Client) logRepairs(what string, st scanagent.ListStats) {
	if st.FieldsRepaired == 0 {
		return
	}
	c.log.Warn(what+": repaired fields PostgreSQL cannot store as sent (NUL characters dropped, invalid UTF-8 replaced by U+FFFD); the repaired values are stored",
		"fields_repaired", st.FieldsRepaired, "fields", st.RepairedFields, "ids", st.RepairedIDs)
}
