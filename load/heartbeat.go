package load

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// observation is what one sync saw of one agent's heartbeat.
type observation struct {
	key               int64
	no                int32 // the agent's number in the tenant
	lastSeen, lastCmd pgtype.Timestamptz
}

// binaryMicros decodes a timestamptz in PostgreSQL's binary format (nil
// for NULL) to microseconds since the Unix epoch, noTime when empty.
func binaryMicros(v []byte) (int64, error) {
	switch len(v) {
	case 0:
		if v == nil {
			return noTime, nil
		}
	case 8:
		return int64(binary.BigEndian.Uint64(v)) + postgresEpoch, nil
	}
	return 0, fmt.Errorf("a timestamp of %d bytes", len(v))
}

// postgresEpoch is 2000-01-01 in microseconds since the Unix epoch: a
// binary timestamptz counts microseconds from it.
const postgresEpoch = 946_684_800_000_000

func storedMicros(t pgtype.Timestamptz) int64 {
	if !t.Valid {
		return noTime
	}
	return t.Time.UnixMicro()
}

func timestamptz(us int64) pgtype.Timestamptz {
	if us == noTime {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: time.UnixMicro(us).UTC(), Valid: true}
}

// queueHeartbeats queues on b the writing of the heartbeats of obs, which
// are exactly the sync's observations (each agent once): each agent's
// heartbeat row in place, and the sync's one observation row. A sync in
// which no heartbeat moved writes neither. *written gets the number of
// heartbeats written, to be checked once b is sent (checkHeartbeats).
func queueHeartbeats(b *batch, fetchedAt time.Time, runID int64, obs []observation, written *int) {
	if len(obs) == 0 {
		return
	}
	keys := make([]int64, len(obs))
	nos := make([]int32, len(obs))
	lastSeen := make([]pgtype.Timestamptz, len(obs))
	lastCmd := make([]pgtype.Timestamptz, len(obs))
	for i, o := range obs {
		keys[i], nos[i], lastSeen[i], lastCmd[i] = o.key, o.no, o.lastSeen, o.lastCmd
	}
	b.queryRow(step{"store heartbeats", query("heartbeats_observe"), []any{keys, lastSeen, lastCmd, fetchedAt, runID, nos}}, written)
}

// checkHeartbeats checks, once the batch of queueHeartbeats is sent, that
// every heartbeat of obs was written.
func checkHeartbeats(obs []observation, written int) error {
	if written != len(obs) {
		return fmt.Errorf("store heartbeats: %d of %d written", written, len(obs))
	}
	return nil
}
