package load

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"hash/maphash"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agentsync/agentsync/scanagent"
)

// fingerprintSize is the length of an agent's fingerprint: 128 bits of a
// SHA-256, so that two different records never pass for one another.
const fingerprintSize = 16

// fingerprintVersion starts every fingerprinted encoding: a change of the
// encoding changes it, and every agent is then compared in full once.
const fingerprintVersion = 1

// fingerprinter hashes the descriptive values of records (every column
// but the heartbeat's), as stored in agent_state.fingerprint.
type fingerprinter struct {
	h    hash.Hash
	buf  []byte
	keys []string
}

func newFingerprinter() *fingerprinter { return &fingerprinter{h: sha256.New()} }

// of returns the fingerprint of r's descriptive values. Each value is
// length-prefixed, so no two records encode alike; an empty text is
// stored as NULL and fingerprints as one too. Extra fields are taken in
// key order with their raw JSON, as the extractor kept it.
func (f *fingerprinter) of(r *scanagent.Record) [fingerprintSize]byte {
	b := append(f.buf[:0], fingerprintVersion)
	for _, s := range [...]string{r.MachineID, r.ComputerDNSName, r.AssignedApplicationID,
		string(r.ScannerSoftwareVersion), string(r.MDEClientVersion)} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return f.sum(f.appendExtra(b, r.Extra))
}

// appendExtra appends extra's fields to b in key order, each key and raw
// JSON value length-prefixed.
func (f *fingerprinter) appendExtra(b []byte, extra map[string]json.RawMessage) []byte {
	b = binary.AppendUvarint(b, uint64(len(extra)))
	if len(extra) == 0 {
		return b
	}
	f.keys = f.keys[:0]
	for k := range extra {
		f.keys = append(f.keys, k)
	}
	slices.Sort(f.keys)
	for _, k := range f.keys {
		v := extra[k]
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

// sum returns the fingerprint of the encoding b, and keeps b's memory for
// the next record.
func (f *fingerprinter) sum(b []byte) [fingerprintSize]byte {
	f.buf = b
	f.h.Reset()
	f.h.Write(b)
	var sum [sha256.Size]byte
	var fp [fingerprintSize]byte
	copy(fp[:], f.h.Sum(sum[:0]))
	return fp
}

// What a sync does with a known agent's record.
const (
	unlisted  uint8 = iota // not in the listing (so far)
	unchanged              // listed as stored: nothing to write
	moved                  // only its heartbeat moved: applied in place
	staged                 // staged in full and compared in SQL
	kept                   // listed but unreadable: kept as stored
)

// knownAgent is what a sync knows of one active agent before it starts.
type knownAgent struct {
	key               int64
	no                int32 // number in the tenant
	fingerprint       [fingerprintSize]byte
	hasFingerprint    bool
	lastSeen, lastCmd int64 // microseconds since the Unix epoch; noTime when empty
	fate              uint8
	heartbeat         int32 // index in heartbeats when fate == moved
}

// noTime stands for an empty timestamp.
const noTime = math.MinInt64

func micros(t time.Time) int64 {
	if t.IsZero() {
		return noTime
	}
	return t.UTC().Truncate(time.Microsecond).UnixMicro()
}

// idKey is a 128-bit hash of an agent id: the id itself may be a slice of
// its page's body, which a map of ids would keep in memory (see idset).
// Two ids hash alike with a probability of about n²/2¹²⁹.
type idKey [2]uint64

// knownAgents are the tenant's active agents as stored when a sync starts,
// by id. A sync of a tenant holds its lock, so they stay as read until it
// writes.
type knownAgents struct {
	seeds  [2]maphash.Seed
	index  map[idKey]int32
	agents []knownAgent
	// heartbeats are the moved heartbeats of unchanged agents (fate
	// moved), in the listing's order; an agent staged after its heartbeat
	// was queued leaves its entry unused.
	heartbeats struct {
		lastSeen, lastCmd []pgtype.Timestamptz
	}
	fingerprints *fingerprinter
	// noneStored is set when the tenant has no agent stored, active or
	// deleted: every staged record is a new agent.
	noneStored bool
}

func (k *knownAgents) id(id string) idKey {
	return idKey{maphash.String(k.seeds[0], id), maphash.String(k.seeds[1], id)}
}

// queueKnown queues on b the reading of the tenant's active agents: key,
// id, fingerprint and heartbeat. They are read into the knownAgents it
// returns when b is sent.
func queueKnown(b *batch, tenant string) *knownAgents {
	k := &knownAgents{
		seeds:        [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		fingerprints: newFingerprinter(),
	}
	// The count first, in the same round trip: the agents are read into
	// tables of their final size. A tenant with any agent stored finds its
	// first one at once.
	var n int
	b.queryRow(step{"read stored agents", query("known_count"), []any{tenant}}, &n, &k.noneStored)
	b.read(step{"read stored agents", query("known_agents"), []any{tenant}}, func(r pgx.BatchResults) error {
		k.index = make(map[idKey]int32, n)
		k.agents = make([]knownAgent, 0, n)
		rows, err := r.Query()
		if err != nil {
			return err
		}
		return k.scan(rows)
	})
	return k
}

// scan reads the rows of queueKnown's query of agents. In PostgreSQL's
// binary format (pgx's own, unless a connection uses the simple protocol)
// each row is decoded in place, without a value allocated: a large
// tenant's read is the main fixed cost of a sync.
func (k *knownAgents) scan(rows pgx.Rows) error {
	defer rows.Close()
	var a knownAgent
	if !binaryResults(rows) {
		var (
			id                string
			fp                []byte
			lastSeen, lastCmd pgtype.Timestamptz
		)
		_, err := pgx.ForEachRow(rows, []any{&a.key, &id, &fp, &lastSeen, &lastCmd, &a.no}, func() error {
			a.lastSeen, a.lastCmd = storedMicros(lastSeen), storedMicros(lastCmd)
			k.add(a, k.id(id), fp)
			return nil
		})
		return err
	}
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != 6 || len(v[0]) != 8 || len(v[5]) != 4 {
			return fmt.Errorf("unexpected row of stored agents")
		}
		a.key = int64(binary.BigEndian.Uint64(v[0]))
		a.no = int32(binary.BigEndian.Uint32(v[5]))
		var err error
		if a.lastSeen, err = binaryMicros(v[3]); err != nil {
			return fmt.Errorf("agent key %d, last_seen: %w", a.key, err)
		}
		if a.lastCmd, err = binaryMicros(v[4]); err != nil {
			return fmt.Errorf("agent key %d, last_command_execution_at: %w", a.key, err)
		}
		k.add(a, idKey{maphash.Bytes(k.seeds[0], v[1]), maphash.Bytes(k.seeds[1], v[1])}, v[2])
	}
	return rows.Err()
}

// binaryResults reports that every column of rows comes in PostgreSQL's
// binary format, which the scans decode in place.
func binaryResults(rows pgx.Rows) bool {
	for _, fd := range rows.FieldDescriptions() {
		if fd.Format != pgx.BinaryFormatCode {
			return false
		}
	}
	return true
}

// add records a stored agent, with its fingerprint when it has one.
func (k *knownAgents) add(a knownAgent, id idKey, fingerprint []byte) {
	a.hasFingerprint = len(fingerprint) == fingerprintSize
	if a.hasFingerprint {
		copy(a.fingerprint[:], fingerprint)
	}
	k.index[id] = int32(len(k.agents))
	k.agents = append(k.agents, a)
}

// classify decides what the sync does with record r of the listing: it
// returns true when r must be staged in full, with its fingerprint, and
// false when the known agent's stored state already says what r says
// (unchanged) or differs only in its heartbeat (then queued for an update
// in place).
//
// The last record of an id wins: once an id repeats, each later record of
// it is staged in full (the staging keeps the last), and a heartbeat
// queued for an earlier one is dropped.
//
// known reports whether r is a known agent's; repeat, whether its id came
// before in the listing (exactly, for a known agent's).
func (k *knownAgents) classify(r *scanagent.Record) (stage bool, fp [fingerprintSize]byte, known, repeat bool) {
	fp = k.fingerprints.of(r)
	i, ok := k.index[k.id(r.ID)]
	if !ok {
		return true, fp, false, false
	}
	a := &k.agents[i]
	switch a.fate {
	case unlisted:
		if !a.hasFingerprint || a.fingerprint != fp {
			a.fate = staged
			return true, fp, true, false
		}
		lastSeen, lastCmd := micros(r.LastSeen), micros(r.LastCommandExecutionAt)
		if lastSeen == a.lastSeen && lastCmd == a.lastCmd {
			a.fate = unchanged
			return false, fp, true, false
		}
		hb := &k.heartbeats
		if hb.lastSeen == nil { // room for every agent's, at once
			hb.lastSeen = make([]pgtype.Timestamptz, 0, len(k.agents))
			hb.lastCmd = make([]pgtype.Timestamptz, 0, len(k.agents))
		}
		a.fate, a.heartbeat = moved, int32(len(hb.lastSeen))
		hb.lastSeen = append(hb.lastSeen, nullTime(r.LastSeen))
		hb.lastCmd = append(hb.lastCmd, nullTime(r.LastCommandExecutionAt))
		return false, fp, true, false
	}
	// A repeat: staged, whatever an earlier record of the id did (a
	// heartbeat it queued goes with its fate).
	a.fate = staged
	return true, fp, true, true
}

// keep marks the agents of ids (listed, but unreadable) as kept as they
// are: not missing. It runs once the listing has ended.
func (k *knownAgents) keep(ids []string) {
	for _, id := range ids {
		if i, ok := k.index[k.id(id)]; ok && k.agents[i].fate == unlisted {
			k.agents[i].fate = kept
		}
	}
}

// outcome sums up the listing against the known agents: how many were
// unchanged, how many only moved their heartbeat, and the keys of the
// active agents the listing lacks.
func (k *knownAgents) outcome() (unchangedN, movedN int, missing []int64) {
	for _, a := range k.agents {
		switch a.fate {
		case unchanged:
			unchangedN++
		case moved:
			movedN++
		case unlisted:
			missing = append(missing, a.key)
		}
	}
	return unchangedN, movedN, missing
}

// movedHeartbeats appends to obs the heartbeats to update in place, in
// the order of their keys (the order of their rows).
func (k *knownAgents) movedHeartbeats(obs []observation) []observation {
	var order []int32 // indexes in k.agents
	for i := range k.agents {
		if k.agents[i].fate == moved {
			order = append(order, int32(i))
		}
	}
	slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(k.agents[a].key, k.agents[b].key) })
	for _, i := range order {
		a := &k.agents[i]
		obs = append(obs, observation{key: a.key, no: a.no,
			lastSeen: k.heartbeats.lastSeen[a.heartbeat], lastCmd: k.heartbeats.lastCmd[a.heartbeat]})
	}
	return obs
}

// lastSeenAfter returns the last_seen of every known agent as a sync that
// wrote no descriptive row leaves it: as stored, or as the listing moved
// it. stagedMoves holds the moves of staged agents, by key.
func (k *knownAgents) lastSeenAfter(stagedMoves map[int64]pgtype.Timestamptz) []pgtype.Timestamptz {
	out := make([]pgtype.Timestamptz, len(k.agents))
	for i, a := range k.agents {
		switch ls, ok := stagedMoves[a.key]; {
		case a.fate == moved:
			out[i] = k.heartbeats.lastSeen[a.heartbeat]
		case a.fate == staged && ok:
			out[i] = ls
		default:
			out[i] = timestamptz(a.lastSeen)
		}
	}
	return out
}
