package extract

import (
	"encoding/json"
	"slices"

	"github.com/agentsync/agentsync/internal/credential"
	"github.com/agentsync/agentsync/internal/safetext"
	"github.com/agentsync/agentsync/scanagent"
)

// maxCredentialNames bounds the names a listing reports: a tenant whose
// every agent carries a differently named secret still logs one line.
const maxCredentialNames = 64

// documentedObjects are the fields of a scan definition that have no
// column yet are documented (the service's metadata), and so are kept in
// Extra even as objects; their credential-named members are removed like
// any other. Every other object-valued field a definition sends is
// removed whole: nobody knows what it carries.
var documentedObjects = canonicalFields("advancedActiveConfiguration")

// undocumentedObject says whether a definition's member that has no field
// of its own is removed when its value is an object.
func undocumentedObject(name string) bool {
	_, ok := documentedObjects[canonicalKey(name)]
	return !ok
}

// scrub applies the credential rule (see internal/credential) to the
// Extra of one record, counting what it removed in st; dropObject, when
// set, also removes the object-valued members it reports. It returns the
// Extra to keep: nil when nothing is left.
func scrub(extra map[string]json.RawMessage, dropObject func(string) bool, st *scanagent.ListStats, secrets []string) map[string]json.RawMessage {
	if len(extra) == 0 {
		return extra
	}
	countRemoved(st, credential.Members(extra, dropObject), secrets)
	if len(extra) == 0 {
		return nil
	}
	return extra
}

// countRemoved counts members removed from a record in st, and their
// names, made safe to log.
func countRemoved(st *scanagent.ListStats, removed []string, secrets []string) {
	st.CredentialsRemoved += len(removed)
	for _, name := range removed {
		name = safetext.Cut(name, nameBytes, secrets...)
		if i, found := slices.BinarySearch(st.CredentialNames, name); !found && len(st.CredentialNames) < maxCredentialNames {
			st.CredentialNames = slices.Insert(st.CredentialNames, i, name)
		}
	}
}

// logCredentialsRemoved writes a listing's one line about the members it
// removed: how many, and their names, never their values.
func (c *Client) logCredentialsRemoved(what string, st scanagent.ListStats) {
	if st.CredentialsRemoved == 0 {
		return
	}
	c.log.Warn(what+": removed members that may hold credentials; they are not stored, logged or printed",
		"members_removed", st.CredentialsRemoved, "names", st.CredentialNames)
}
