package load

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// heartbeatBlock is one row of defender_storage.heartbeat_block: the heartbeats of
// the agent keys block*64 to block*64+63 of one tenant, in microseconds
// since the Unix epoch (noTime when empty).
type heartbeatBlock struct {
	lastSeen, lastCmd [blockSize]int64
}

// emptyBlock is a block whose slots are all empty.
var emptyBlock = func() (b heartbeatBlock) {
	for i := range blockSize {
		b.lastSeen[i], b.lastCmd[i] = noTime, noTime
	}
	return b
}()

// heartbeatBlocks are a tenant's stored heartbeat blocks, by block.
type heartbeatBlocks map[int64]*heartbeatBlock

// heartbeat returns the stored heartbeat of agent key.
func (bs heartbeatBlocks) heartbeat(key int64) (lastSeen, lastCmd int64) {
	b, ok := bs[key/blockSize]
	if !ok {
		return noTime, noTime
	}
	return b.lastSeen[key%blockSize], b.lastCmd[key%blockSize]
}

// scanBlocks reads the rows of readKnown's query of heartbeat blocks. In
// PostgreSQL's binary format each array is decoded in place.
func scanBlocks(rows pgx.Rows) (heartbeatBlocks, error) {
	defer rows.Close()
	blocks := heartbeatBlocks{}
	if !binaryResults(rows) {
		var (
			block             int64
			lastSeen, lastCmd []pgtype.Timestamptz
		)
		_, err := pgx.ForEachRow(rows, []any{&block, &lastSeen, &lastCmd}, func() error {
			if len(lastSeen) != blockSize || len(lastCmd) != blockSize {
				return fmt.Errorf("heartbeat block %d has %d and %d slots, want %d", block, len(lastSeen), len(lastCmd), blockSize)
			}
			b := &heartbeatBlock{}
			for i := range blockSize {
				b.lastSeen[i], b.lastCmd[i] = storedMicros(lastSeen[i]), storedMicros(lastCmd[i])
			}
			blocks[block] = b
			return nil
		})
		return blocks, err
	}
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != 3 || len(v[0]) != 8 {
			return nil, fmt.Errorf("unexpected row of heartbeat blocks")
		}
		block := int64(binary.BigEndian.Uint64(v[0]))
		b := &heartbeatBlock{}
		if err := decodeSlots(v[1], &b.lastSeen); err != nil {
			return nil, fmt.Errorf("heartbeat block %d, last_seen: %w", block, err)
		}
		if err := decodeSlots(v[2], &b.lastCmd); err != nil {
			return nil, fmt.Errorf("heartbeat block %d, last_command_execution_at: %w", block, err)
		}
		blocks[block] = b
	}
	return blocks, rows.Err()
}

// decodeSlots decodes a binary timestamptz[] of one dimension, 64
// elements from index 1 (as the table's check constraint makes them).
func decodeSlots(v []byte, out *[blockSize]int64) error {
	// Header: dimensions, has-nulls flag, element type, then per
	// dimension its length and lower bound.
	if len(v) < 20 {
		return fmt.Errorf("array of %d bytes", len(v))
	}
	ndim, elem := binary.BigEndian.Uint32(v[0:4]), binary.BigEndian.Uint32(v[8:12])
	n, lower := int32(binary.BigEndian.Uint32(v[12:16])), int32(binary.BigEndian.Uint32(v[16:20]))
	if ndim != 1 || elem != pgtype.TimestamptzOID || n != blockSize || lower != 1 {
		return fmt.Errorf("not an array of %d timestamps from index 1", blockSize)
	}
	v = v[20:]
	for i := range blockSize {
		if len(v) < 4 {
			return fmt.Errorf("array ends at element %d", i+1)
		}
		size := int32(binary.BigEndian.Uint32(v))
		v = v[4:]
		switch {
		case size == -1:
			out[i] = noTime
		case size == 8 && len(v) >= 8:
			out[i] = int64(binary.BigEndian.Uint64(v)) + postgresEpoch
			v = v[8:]
		default:
			return fmt.Errorf("element %d of %d bytes", i+1, size)
		}
	}
	if len(v) != 0 {
		return fmt.Errorf("%d bytes after the last element", len(v))
	}
	return nil
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

// directBlocks is the most blocks a sync writes from a statement's
// parameters: each block's arrays are sliced out of flat arrays, and a
// slice is found by walking the array from its start, which grows with
// the square of the blocks. More blocks (over 4,096 agents) go through
// COPY and a work table, which costs two round trips more.
const directBlocks = 64

// writeHeartbeats stores the heartbeats of obs (sorted by key, each agent
// once), which are exactly the sync's observations: each block of theirs
// is rewritten whole, from the tenant's stored block and the moves, in
// place when it exists. Blocks without a move are not written.
func writeHeartbeats(ctx context.Context, tx pgx.Tx, tenant string, stored heartbeatBlocks, obs []observation) error {
	var (
		blocks            []int64
		lastSeen, lastCmd []pgtype.Timestamptz // blockSize per block
	)
	byBlock(obs, func(block int64, obs []observation) {
		b := emptyBlock
		if s, ok := stored[block]; ok {
			b = *s
		}
		for _, o := range obs {
			b.lastSeen[o.key%blockSize], b.lastCmd[o.key%blockSize] = storedMicros(o.lastSeen), storedMicros(o.lastCmd)
		}
		blocks = append(blocks, block)
		for i := range blockSize {
			lastSeen = append(lastSeen, timestamptz(b.lastSeen[i]))
			lastCmd = append(lastCmd, timestamptz(b.lastCmd[i]))
		}
	})
	var (
		tag pgconn.CommandTag
		err error
	)
	switch {
	case len(blocks) == 0:
		return nil
	case len(blocks) <= directBlocks:
		tag, err = tx.Exec(ctx, query("heartbeats_write"), tenant, blocks, lastSeen, lastCmd, blockSize)
	default:
		rows := make([][]any, len(blocks))
		for i, block := range blocks {
			rows[i] = []any{block, lastSeen[i*blockSize : (i+1)*blockSize], lastCmd[i*blockSize : (i+1)*blockSize]}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"agentsync_heartbeats"}, heartbeatColumns, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("store heartbeats: %w", interpretError(err))
		}
		tag, err = tx.Exec(ctx, query("heartbeats_write_copied"), tenant)
	}
	if err != nil {
		return fmt.Errorf("store heartbeats: %w", interpretError(err))
	}
	if tag.RowsAffected() != int64(len(blocks)) {
		return fmt.Errorf("store heartbeats: %d of %d blocks written", tag.RowsAffected(), len(blocks))
	}
	return nil
}

var heartbeatColumns = []string{"block", "last_seen", "last_command_execution_at"}
