package load

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

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

	h    hash.Hash
	buf  []byte
	keys []string
}

// readSettledSessions reads the settled sessions of the definitions that
// ran at or after since: the only ones a reading of the history since
// then can list.
func readSettledSessions(ctx context.Context, tx pgx.Tx, tenant string, definitions []string, since time.Time) (*settledSessions, error) {
	s := &settledSessions{stored: map[string][fingerprintSize]byte{}, staged: map[string]struct{}{}, h: sha256.New()}
	rows, err := tx.Query(ctx, `
		SELECT session_id, listed_fingerprint FROM defender.session_result
		 WHERE tenant_id = $1 AND definition_id = ANY ($2) AND scanned_at >= $3
		   AND session_id IS NOT NULL AND targets_run_id IS NOT NULL AND listed_fingerprint IS NOT NULL`,
		tenant, definitions, since)
	if err != nil {
		return nil, fmt.Errorf("read settled sessions: %w", interpretError(err))
	}
	var id string
	var fp []byte
	if _, err := pgx.ForEachRow(rows, []any{&id, &fp}, func() error {
		if len(fp) == fingerprintSize {
			s.stored[id] = [fingerprintSize]byte(fp)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read settled sessions: %w", interpretError(err))
	}
	return s, nil
}

// settle returns the fingerprint of a session listed by definition, and
// whether it is settled, so that it need not be staged.
func (s *settledSessions) settle(r *scanagent.ScanSession) (fp [fingerprintSize]byte, skip bool) {
	fp = s.fingerprint(r)
	if r.SessionID == "" {
		return fp, false
	}
	if _, staged := s.staged[r.SessionID]; !staged {
		if stored, ok := s.stored[r.SessionID]; ok && stored == fp {
			s.skipped++
			return fp, true
		}
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
	b = binary.AppendUvarint(b, uint64(len(r.Extra)))
	if len(r.Extra) > 0 {
		s.keys = s.keys[:0]
		for k := range r.Extra {
			s.keys = append(s.keys, k)
		}
		slices.Sort(s.keys)
		for _, k := range s.keys {
			v := r.Extra[k]
			b = binary.AppendUvarint(b, uint64(len(k)))
			b = append(b, k...)
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		}
	}
	s.buf = b
	s.h.Reset()
	s.h.Write(b)
	var sum [sha256.Size]byte
	var fp [fingerprintSize]byte
	copy(fp[:], s.h.Sum(sum[:0]))
	return fp
}
