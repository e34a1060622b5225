-- RUN_RETENTION drops the runs nothing refers to any more, once they are
-- older than the retention: every resource of a tenant synced hourly makes
-- 26,280 runs a year, most of which changed nothing. What a dropped run
-- was in its tenant's digest chain stays, in a stretch of runs_dropped:
-- per run its number and the part digests the chain needs to be
-- recomputed through it (its run part, and those of its observations,
-- sessions and targets that were not the digest of nothing), and the
-- digest of the stretch's last run. A chain head recorded before stays a
-- commitment to every run before it.
--
-- A run's digest chains the run before it: run_digest.previous_run_id
-- when that run is kept, previous_dropped_run_id when retention dropped
-- it (the last run of a stretch), each a foreign key; the same for a
-- stretch's first run.
--
-- Deleting a run checks every foreign key that refers to it. Five of
-- those columns had no index, so the check would read their whole table
-- for each run deleted; they are indexed. tenants.last_run_id stays
-- without one: one row per tenant, and a tenant's latest run is never
-- dropped.

-- +goose Up
CREATE INDEX agent_daily_by_run ON defender_storage.agent_daily (run_id);
CREATE INDEX tenant_daily_by_run ON defender_storage.tenant_daily (run_id);
CREATE INDEX agent_state_by_first_run ON defender_storage.agent_state (first_seen_run_id);
CREATE INDEX definition_state_by_first_run ON defender_storage.definition_state (first_seen_run_id);
CREATE INDEX target_status_by_run ON defender_storage.target_status (as_of_run_id);

CREATE TABLE defender_storage.runs_dropped (
    tenant_no integer NOT NULL REFERENCES defender_storage.tenants (tenant_no),
    resource "char" NOT NULL,
    previous_run_id bigint REFERENCES defender_storage.run_digest (run_id),
    previous_dropped_run_id bigint,
    first_run_id bigint NOT NULL,
    last_run_id bigint NOT NULL,
    runs integer NOT NULL,
    runs_computed_at_upgrade integer NOT NULL DEFAULT 0,
    first_fetched_at timestamptz NOT NULL,
    last_fetched_at timestamptz NOT NULL,
    dropped_before timestamptz NOT NULL,
    dropped_at timestamptz NOT NULL,
    digest bytea NOT NULL,
    links bytea NOT NULL,
    CONSTRAINT runs_dropped_pkey PRIMARY KEY (last_run_id),
    CONSTRAINT runs_dropped_previous_dropped_run_id_fkey FOREIGN KEY (previous_dropped_run_id)
        REFERENCES defender_storage.runs_dropped (last_run_id),
    CONSTRAINT runs_dropped_chains_one CHECK (previous_run_id IS NULL OR previous_dropped_run_id IS NULL),
    CONSTRAINT runs_dropped_previous_before CHECK (previous_dropped_run_id < first_run_id),
    CONSTRAINT runs_dropped_resource CHECK (resource IN ('a', 'd', 'h')),
    CONSTRAINT runs_dropped_in_order CHECK (previous_run_id < first_run_id AND first_run_id <= last_run_id
                                            AND first_fetched_at <= last_fetched_at AND last_fetched_at < dropped_before),
    CONSTRAINT runs_dropped_runs CHECK (runs > 0 AND (runs = 1) = (first_run_id = last_run_id)),
    CONSTRAINT runs_dropped_computed_at_upgrade CHECK (runs_computed_at_upgrade BETWEEN 0 AND runs),
    CONSTRAINT runs_dropped_links CHECK (octet_length(links) BETWEEN 41 * runs AND 137 * runs),
    CONSTRAINT runs_dropped_digest CHECK (octet_length(digest) = 32),
    CONSTRAINT runs_dropped_no_overlap EXCLUDE USING gist (
        tenant_no WITH =, (resource::text) WITH =, int8range(first_run_id, last_run_id, '[]') WITH &&)
);
-- Digests do not compress: the links stay in the row, out of it only when
-- a stretch outgrows a page.
ALTER TABLE defender_storage.runs_dropped ALTER COLUMN links SET STORAGE MAIN;
-- A chain does not fork: one run, or one stretch, chains each run.
CREATE UNIQUE INDEX runs_dropped_chains_once ON defender_storage.runs_dropped (previous_run_id)
    WHERE previous_run_id IS NOT NULL;
CREATE UNIQUE INDEX runs_dropped_chains_dropped_once ON defender_storage.runs_dropped (previous_dropped_run_id)
    WHERE previous_dropped_run_id IS NOT NULL;

-- How far run retention has looked at each tenant's runs: a run it kept
-- (something referred to it) is not looked at again. A bound, not a
-- reference: no foreign key.
CREATE TABLE defender_storage.run_retention_progress (
    tenant_no integer PRIMARY KEY REFERENCES defender_storage.tenants (tenant_no),
    through_run_id bigint NOT NULL CONSTRAINT run_retention_progress_through_run_id_check CHECK (through_run_id > 0),
    looked_at timestamptz NOT NULL
);
COMMENT ON TABLE defender_storage.run_retention_progress IS 'How far RUN_RETENTION has looked at each tenant''s runs: the next pass looks at the runs after through_run_id.';
COMMENT ON COLUMN defender_storage.run_retention_progress.tenant_no IS 'The tenant (tenants.tenant_no).';
COMMENT ON COLUMN defender_storage.run_retention_progress.through_run_id IS 'The last run retention looked at: every run of the tenant up to it was dropped, or kept because something refers to it.';
COMMENT ON COLUMN defender_storage.run_retention_progress.looked_at IS 'When it looked at it.';

ALTER TABLE defender_storage.run_digest
    ADD COLUMN previous_dropped_run_id bigint,
    ADD CONSTRAINT run_digest_previous_dropped_run_id_fkey FOREIGN KEY (previous_dropped_run_id)
        REFERENCES defender_storage.runs_dropped (last_run_id),
    ADD CONSTRAINT run_digest_chains_one CHECK (previous_run_id IS NULL OR previous_dropped_run_id IS NULL),
    ADD CONSTRAINT run_digest_previous_dropped_before CHECK (previous_dropped_run_id < run_id);
-- One run chains each stretch. Partial: the column is empty in nearly
-- every row, and an index of its nulls would cost every run bytes.
CREATE UNIQUE INDEX run_digest_chains_dropped_once ON defender_storage.run_digest (previous_dropped_run_id)
    WHERE previous_dropped_run_id IS NOT NULL;
COMMENT ON COLUMN defender_storage.run_digest.previous_run_id IS 'The previous successful run of the tenant and resource, whose digest this one chains; empty for the first, and when RUN_RETENTION dropped that run (previous_dropped_run_id).';
COMMENT ON COLUMN defender_storage.run_digest.previous_dropped_run_id IS 'The previous successful run of the tenant and resource, when RUN_RETENTION dropped it: the last run of a stretch of runs_dropped, which keeps its digest.';

CREATE OR REPLACE VIEW defender.run_digests WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants FROM defender_storage.caller_tenants c
        )
 SELECT r.run_id,
    r.tenant_id,
    r.resource,
    r.fetched_at,
    coalesce(d.previous_run_id, d.previous_dropped_run_id) AS previous_run_id,
    encode(d.digest, 'hex'::text) AS digest,
    d.computed_at_upgrade
   FROM (defender_storage.run_digest d
     JOIN defender.sync_runs r ON ((r.run_id = d.run_id)))
  WHERE ((( SELECT visible.tenants FROM visible) IS NULL) OR (r.tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(visible.tenants) AS unnest FROM visible))));
COMMENT ON COLUMN defender.run_digests.previous_run_id IS 'The run whose digest it chains; empty for the first of the chain. A run RUN_RETENTION dropped is no longer in sync_runs; agentsync verify chains through it.';

COMMENT ON TABLE defender_storage.runs_dropped IS 'What RUN_RETENTION dropped of a tenant''s digest chain (docs/audit.md): a stretch of consecutive successful runs of one tenant and resource, with what agentsync verify needs to recompute the chain through them.';
COMMENT ON COLUMN defender_storage.runs_dropped.tenant_no IS 'The tenant (tenants.tenant_no).';
COMMENT ON COLUMN defender_storage.runs_dropped.resource IS 'a (agents), d (definitions) or h (history): the chain.';
COMMENT ON COLUMN defender_storage.runs_dropped.previous_run_id IS 'The run the stretch''s first run chains, when it is kept (run_digest); empty when it was dropped too (previous_dropped_run_id) or the stretch begins the chain.';
COMMENT ON COLUMN defender_storage.runs_dropped.previous_dropped_run_id IS 'The run the stretch''s first run chains, when retention dropped it: the last run of an earlier stretch.';
COMMENT ON COLUMN defender_storage.runs_dropped.first_run_id IS 'The stretch''s first run.';
COMMENT ON COLUMN defender_storage.runs_dropped.last_run_id IS 'The stretch''s last run: the run the next one of the chain chains.';
COMMENT ON COLUMN defender_storage.runs_dropped.runs IS 'How many runs the stretch holds.';
COMMENT ON COLUMN defender_storage.runs_dropped.runs_computed_at_upgrade IS 'How many of them had a digest the upgrade to digests computed (run_digest.computed_at_upgrade): they prove nothing of before the upgrade.';
COMMENT ON COLUMN defender_storage.runs_dropped.first_fetched_at IS 'The fetch time of its first run.';
COMMENT ON COLUMN defender_storage.runs_dropped.last_fetched_at IS 'The fetch time of its last run.';
COMMENT ON COLUMN defender_storage.runs_dropped.dropped_before IS 'The retention''s cutoff when it dropped them: every run of the stretch fetched before it.';
COMMENT ON COLUMN defender_storage.runs_dropped.dropped_at IS 'When retention dropped them.';
COMMENT ON COLUMN defender_storage.runs_dropped.digest IS 'The digest of the stretch''s last run, which the next run of the chain chains.';
COMMENT ON COLUMN defender_storage.runs_dropped.links IS 'Per run, in order: its run_id (8 bytes, big-endian), the SHA-256 of its part 1 (the run, 32 bytes), a byte whose bits 0, 1 and 2 tell which of its parts 6, 7 and 8 (observations, sessions, targets) follow, then those (32 bytes each); the others were the digest of nothing (e3b0c442…), as its parts 2 to 5 were: a run something refers to is never dropped. 41 to 137 bytes a run.';

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM defender_storage.runs_dropped) THEN
        RAISE EXCEPTION 'RUN_RETENTION has dropped runs: schema 41 cannot chain the run digests across them (defender_storage.runs_dropped holds what verify needs); the database stays at schema 42'
            USING ERRCODE = 'object_in_use';
    END IF;
END
$$;
-- +goose StatementEnd
CREATE OR REPLACE VIEW defender.run_digests WITH (security_barrier='true') AS
 WITH visible AS MATERIALIZED (
         SELECT c.tenants FROM defender_storage.caller_tenants c
        )
 SELECT r.run_id,
    r.tenant_id,
    r.resource,
    r.fetched_at,
    d.previous_run_id,
    encode(d.digest, 'hex'::text) AS digest,
    d.computed_at_upgrade
   FROM (defender_storage.run_digest d
     JOIN defender.sync_runs r ON ((r.run_id = d.run_id)))
  WHERE ((( SELECT visible.tenants FROM visible) IS NULL) OR (r.tenant_id = ANY (ARRAY( SELECT pg_catalog.unnest(visible.tenants) AS unnest FROM visible))));
COMMENT ON COLUMN defender.run_digests.previous_run_id IS 'The run whose digest it chains; empty for the first of the chain.';
ALTER TABLE defender_storage.run_digest DROP COLUMN previous_dropped_run_id;
COMMENT ON COLUMN defender_storage.run_digest.previous_run_id IS 'The previous successful run of the tenant and resource, whose digest this one chains; empty for the first.';
DROP TABLE defender_storage.run_retention_progress;
DROP TABLE defender_storage.runs_dropped;
DROP INDEX defender_storage.agent_daily_by_run;
DROP INDEX defender_storage.tenant_daily_by_run;
DROP INDEX defender_storage.agent_state_by_first_run;
DROP INDEX defender_storage.definition_state_by_first_run;
DROP INDEX defender_storage.target_status_by_run;
