-- Exports the snapshot of agentsync verify's first transaction, for its
-- workers' transactions to read the same.
-- No parameters.
SELECT pg_catalog.pg_export_snapshot()
