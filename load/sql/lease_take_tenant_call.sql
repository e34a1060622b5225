-- Takes a tenant's lease when it is free or expired, after the tenant's
-- row (defender_storage.take_tenant_lease: lease_take_tenant's statement,
-- its plan kept per connection). Returns whether it was taken, the holder
-- and expiry now stored, and whether the tenant is busy.
-- $1 tenant id, $2 holder, $3 duration in seconds, $4 tenant display name
-- ('' for none), $5 the grace in seconds, $6 the sync timeout plus the
-- grace in seconds.
SELECT l.taken, l.lease_holder, l.lease_expires_at, l.busy
  FROM defender_storage.take_tenant_lease($1, $2, $3, $4, $5, $6) l
