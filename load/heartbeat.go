package load

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// observation is what one sync saw of one agent's heartbeat.
type observation struct {
	key               int64
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

// storeHeartbeats writes the heartbeats of obs, which are exactly the
// sync's observations (each agent once): each agent's heartbeat row in
// place, and the sync's one observation row. A sync in
// which no heartbeat moved writes neither.
func storeHeartbeats(ctx context.Context, tx pgx.Tx, fetchedAt time.Time, runID int64, obs []observation) error {
	if len(obs) == 0 {
		return nil
	}
	keys := make([]int64, len(obs))
	lastSeen := make([]pgtype.Timestamptz, len(obs))
	lastCmd := make([]pgtype.Timestamptz, len(obs))
	for i, o := range obs {
		keys[i], lastSeen[i], lastCmd[i] = o.key, o.lastSeen, o.lastCmd
	}
	var written int
	// Planned at each execution, even where statements stay prepared
	// (internal/pooling): a plan kept from a connection's first syncs of
	// a new database, made while agent_state held a few rows, would read
	// it whole to find the agents' numbers once it holds a fleet.
	if err := tx.QueryRow(ctx, query("heartbeats_observe"), pgx.QueryExecModeCacheDescribe,
		keys, lastSeen, lastCmd, fetchedAt, runID).Scan(&written); err != nil {
		return fmt.Errorf("store heartbeats: %w", interpretError(err))
	}
	if written != len(obs) {
		return fmt.Errorf("store heartbeats: %d of %d written", written, len(obs))
	}
	return nil
}
