-- Gives back a tenant's lease held by a holder.
-- $1 tenant id, $2 holder.
DELETE FROM defender_storage.tenant_leases WHERE tenant_id = $1 AND holder = $2
