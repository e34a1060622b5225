-- The lease of a tenant: which sync holds it, and until when. A sync takes
-- it, renews it while it runs and gives it back, each in a short
-- transaction of its own, so that it holds through a transaction pooler
-- (PgBouncer, the poolers of managed services), where a session's advisory
-- lock would be taken on one server connection and released on another.
-- A holder that dies stops renewing: its lease expires. Only the owner of
-- the schema writes it; no reader and no other login can hold a tenant.

-- +goose Up
ALTER TABLE defender.tenants
    ADD COLUMN lease_holder text,
    ADD COLUMN lease_expires_at timestamptz,
    ADD CONSTRAINT tenants_lease_has_expiry CHECK ((lease_holder IS NULL) = (lease_expires_at IS NULL)),
    ADD CONSTRAINT tenants_lease_holder_named CHECK (lease_holder <> '');
COMMENT ON COLUMN defender.tenants.lease_holder IS
    'The sync holding the tenant (worker host:pid and a token of its own); empty when none. Syncs of the tenant by other processes wait for it to end or expire.';
COMMENT ON COLUMN defender.tenants.lease_expires_at IS
    'When the holder''s lease ends unless it renews it (a live sync renews it well before); empty when no sync holds the tenant.';

-- +goose Down
ALTER TABLE defender.tenants
    DROP CONSTRAINT tenants_lease_holder_named,
    DROP CONSTRAINT tenants_lease_has_expiry,
    DROP COLUMN lease_expires_at,
    DROP COLUMN lease_holder;
