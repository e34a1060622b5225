package load

import (
	"context"
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

// blockSize is the number of agents of one packed observation row: agent
// key k is stored in block k / 64, slot k % 64.
const blockSize = 64

// byBlock calls fn with each block of agent keys of obs (sorted by key)
// and the observations of its agents.
func byBlock(obs []observation, fn func(block int64, obs []observation)) {
	for start := 0; start < len(obs); {
		block := obs[start].key / blockSize
		end := start
		for end < len(obs) && obs[end].key/blockSize == block {
			end++
		}
		fn(block, obs[start:end])
		start = end
	}
}

var observationColumns = []string{"observed_at", "run_id", "block", "slots", "last_seen", "last_command_execution_at"}

// copyObservations stores the observations of one sync (sorted by key,
// each agent once), one packed row per block of agent keys, with COPY.
func copyObservations(ctx context.Context, tx pgx.Tx, fetchedAt time.Time, runID int64, obs []observation) error {
	if len(obs) == 0 {
		return nil
	}
	var rows [][]any
	byBlock(obs, func(block int64, obs []observation) {
		slots := make([]int16, len(obs))
		lastSeen := make([]pgtype.Timestamptz, len(obs))
		lastCmd := make([]pgtype.Timestamptz, len(obs))
		for i, o := range obs {
			slots[i] = int16(o.key % blockSize)
			lastSeen[i], lastCmd[i] = o.lastSeen, o.lastCmd
		}
		rows = append(rows, []any{fetchedAt, runID, block, slots, lastSeen, lastCmd})
	})
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"defender_storage", "observation_block"}, observationColumns, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("store observations: %w", interpretError(err))
	}
	return nil
}
