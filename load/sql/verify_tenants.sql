-- The tenants agentsync verify may be asked for, to name them when the
-- one asked for has no run.
-- No parameters.
SELECT tenant_id FROM defender_storage.tenants ORDER BY tenant_id
