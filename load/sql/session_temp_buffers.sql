-- Raises the session's temp_buffers to a size, unless it is larger
-- already or the session has had a temporary table (PostgreSQL lets a
-- session raise it only before its first temporary table, and refuses it
-- with an error after: never sent then, as it runs among other
-- statements).
-- $1 the size (text, such as 32MB).
SELECT pg_catalog.set_config('temp_buffers', $1, false)
 WHERE pg_catalog.pg_my_temp_schema() = 0
   AND pg_catalog.pg_size_bytes(pg_catalog.current_setting('temp_buffers')) < pg_catalog.pg_size_bytes($1)
