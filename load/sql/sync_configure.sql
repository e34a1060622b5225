-- Sets up the transaction of a sync for set-based statements over a
-- listing: memory for their hash joins; no JIT compilation, which costs
-- more than it saves on statements of a fraction of a second; and no
-- notices (such as the one a CREATE TABLE IF NOT EXISTS of an existing
-- work table, or a DROP TABLE IF EXISTS of an absent one, gives).
-- $1 work_mem (text, such as 64MB).
SELECT pg_catalog.set_config('work_mem', $1, true), pg_catalog.set_config('jit', 'off', true),
       pg_catalog.set_config('client_min_messages', 'warning', true)
