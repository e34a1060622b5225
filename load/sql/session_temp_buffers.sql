-- Raises the session's temp_buffers to a size, unless it is larger
-- already (PostgreSQL lets a session raise it only before its first
-- temporary table).
-- $1 the size (text, such as 32MB).
SELECT pg_catalog.set_config('temp_buffers', $1, false)
 WHERE pg_catalog.pg_size_bytes(pg_catalog.current_setting('temp_buffers')) < pg_catalog.pg_size_bytes($1)
