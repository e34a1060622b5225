package load

import (
	"encoding/binary"

	"github.com/agentsync/agentsync/scanagent"
)

// settledSessions are the tenant's stored sessions that a history sync
// may leave out of its staging: those whose targets are stored and that
// the history by definition listed, at their last writing, exactly as it
// lists them now (by fingerprint). Every history sync reads the whole
// lookback, a week of sessions of which a few are new: the rest are
// settled, and cost a fingerprint each instead of a row to stage and
// compare.
type settledSessions struct {
	stored map[string][fingerprintSize]byte // session id -> listed fingerprint
	// staged are the ids staged so far: a session listed again after one
	// of its copies was staged is staged too, so that the last one counts.
	staged  map[string]struct{}
	skipped int
	// unidentified counts the sessions staged without an id (known by
	// definition and time).
	unidentified int
	// repeats is set when an id is staged twice.
	repeats bool

	// scanID and scanFP receive a row of history_settled.
	scanID string
	scanFP []byte

	// fingerprinter encodes and hashes the sessions, as it does agents.
	*fingerprinter
}

// newSettledSessions returns an empty set of settled sessions, which
// add fills with the rows of history_settled, scanned into scanDest: the
// settled sessions of the definitions whose history a sync reads that ran
// at or after its bound, the only ones a reading of the history since
// then can list.
func newSettledSessions() *settledSessions {
	return &settledSessions{stored: map[string][fingerprintSize]byte{}, staged: map[string]struct{}{}, fingerprinter: newFingerprinter()}
}

// scanDest is where a row of history_settled is scanned, for add.
func (s *settledSessions) scanDest() []any { return []any{&s.scanID, &s.scanFP} }

// add keeps the row last scanned into scanDest.
func (s *settledSessions) add() error {
	if len(s.scanFP) == fingerprintSize {
		s.stored[s.scanID] = [fingerprintSize]byte(s.scanFP)
	}
	return nil
}

// repeated reports whether the staging may hold a session twice: an id
// staged again, or sessions without an id (known by definition and time,
// which the loader does not track).
func (s *settledSessions) repeated() bool { return s.repeats || s.unidentified > 0 }

// settle returns the fingerprint of a session listed by definition, and
// whether it is settled, so that it need not be staged.
func (s *settledSessions) settle(r *scanagent.ScanSession) (fp [fingerprintSize]byte, skip bool) {
	fp = s.fingerprint(r)
	if r.SessionID == "" {
		return fp, false
	}
	if _, staged := s.staged[r.SessionID]; staged {
		s.repeats = true
	} else if stored, ok := s.stored[r.SessionID]; ok && stored == fp {
		s.skipped++
		return fp, true
	}
	s.staged[r.SessionID] = struct{}{}
	return fp, false
}

// fingerprint hashes what the history by definition says of a session:
// every value the loader stores of it, its targets aside (stored once,
// from the reading by session). Values are length-prefixed, as in the
// agents' fingerprint.
func (s *settledSessions) fingerprint(r *scanagent.ScanSession) [fingerprintSize]byte {
	b := append(s.buf[:0], fingerprintVersion)
	for _, v := range [...]string{r.DefinitionID, r.SessionID, r.ScannerID, r.Status, r.GeneralError} {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	b = binary.AppendVarint(b, micros(r.ScannedAt))
	for _, n := range [...]*int{r.Targets, r.SucceededTargets} {
		if n == nil {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = binary.AppendVarint(b, int64(*n))
	}
	return s.sum(s.appendExtra(b, r.Extra))
}
