-- Sets, for the transaction of a history sync, the memory of its joins;
-- turns JIT compilation off, which costs more than it saves on statements
-- of a fraction of a second; and leaves out notices (such as the one a
-- DROP TABLE IF EXISTS of an absent work table gives).
-- $1 work_mem (text, such as 64MB).
SELECT pg_catalog.set_config('work_mem', $1, true), pg_catalog.set_config('jit', 'off', true),
       pg_catalog.set_config('client_min_messages', 'warning', true)
