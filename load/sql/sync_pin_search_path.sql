-- Pins search_path to pg_catalog, pg_temp for the transaction of a sync,
-- right after its BEGIN: no unqualified name could resolve into a schema
-- another role may create objects in (see batch.begin).
SET LOCAL search_path = pg_catalog, pg_temp
