-- Reads the holder of a tenant's lease.
-- $1 tenant id.
SELECT holder FROM defender_storage.tenant_leases WHERE tenant_id = $1
