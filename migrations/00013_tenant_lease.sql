-- The lease of a tenant: which sync holds it, and until when. A sync takes
-- it, renews it while it runs and gives it back, each in a short
-- transaction of its own, so that it holds through a transaction pooler
-- (PgBouncer, the poolers of managed services), where a session's advisory
-- lock would be taken on one server connection and released on another.
-- A holder that dies stops renewing: its lease expires. Only the owner of
-- the schema writes it; no reader and no other login can hold a tenant.
--
-- One row per tenant beside defender.tenants rather than columns of it:
-- the tenant's row is rewritten only by a sync that succeeds, and taking
-- and giving back a lease happens at every sync, failed or not.

-- +goose Up
CREATE TABLE defender.tenant_leases (
    tenant_id  text        PRIMARY KEY REFERENCES defender.tenants,
    holder     text        NOT NULL CHECK (holder <> ''),
    expires_at timestamptz NOT NULL
);
COMMENT ON TABLE defender.tenant_leases IS
    'Storage: the sync holding each tenant, until when. Syncs of the tenant by other processes skip it while the lease lasts; a live sync renews it, a stopped one lets it expire.';
COMMENT ON COLUMN defender.tenant_leases.tenant_id IS 'Microsoft Entra tenant (GUID or domain, lower case).';
COMMENT ON COLUMN defender.tenant_leases.holder IS 'The sync holding the tenant: its worker (host:pid) and a token of its own.';
COMMENT ON COLUMN defender.tenant_leases.expires_at IS 'When the lease ends unless its holder renews it (a live sync renews it well before).';

-- +goose Down
DROP TABLE defender.tenant_leases;
