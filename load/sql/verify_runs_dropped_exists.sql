-- Whether the schema keeps the runs RUN_RETENTION dropped (schema 42 on):
-- verify reads them only then.
-- No parameters.
SELECT pg_catalog.to_regclass('defender_storage.runs_dropped') IS NOT NULL
