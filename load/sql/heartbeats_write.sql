-- Writes a tenant's heartbeat blocks from flat arrays, in place when the
-- block exists: block i (from 1) of $2 takes the slots (i-1)*$5+1 to i*$5
-- of $3 and $4.
-- $1 tenant id, $2 blocks (bigint[]), $3 last_seen of every slot
-- (timestamptz[]), $4 last_command_execution_at of every slot
-- (timestamptz[]), $5 heartbeat block size.
INSERT INTO defender_storage.heartbeat_block (tenant_id, block, last_seen, last_command_execution_at)
SELECT $1, b.block,
       ($3::timestamptz[])[b.i * $5::bigint - $5::bigint + 1 : b.i * $5::bigint],
       ($4::timestamptz[])[b.i * $5::bigint - $5::bigint + 1 : b.i * $5::bigint]
  FROM unnest($2::bigint[]) WITH ORDINALITY AS b(block, i)
    ON CONFLICT (tenant_id, block) DO UPDATE
   SET last_seen = excluded.last_seen, last_command_execution_at = excluded.last_command_execution_at
