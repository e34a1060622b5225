-- Lists which of the named temporary work tables of the session were
-- never analyzed (pg_class.reltuples < 0), such as those just created:
-- the planner takes such a table for ten pages of rows, however few it
-- holds (see analyzeOnce).
-- $1 the table names (text[]).
SELECT coalesce(pg_catalog.array_agg(c.relname::text ORDER BY c.relname), '{}')
  FROM pg_catalog.pg_class c
 WHERE c.relnamespace = pg_catalog.pg_my_temp_schema() AND c.relname = ANY ($1::text[]) AND c.reltuples < 0
