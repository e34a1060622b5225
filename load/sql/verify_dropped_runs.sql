-- The stretches of runs RUN_RETENTION dropped (runs_dropped), for
-- agentsync verify to chain through them (it orders them): per stretch,
-- the run its first run chains, its first and last runs, the digest of
-- its last, its links (per run: its number and the part digests the
-- chain needs), the run kept that chains its last (null when it is an
-- earlier stretch, or none), and how many of its runs had their digest
-- computed at the upgrade to digests.
-- $1 tenant (null: every tenant).
SELECT t.tenant_id,
       defender_storage.run_resource_name(s.resource),
       coalesce(s.previous_run_id, s.previous_dropped_run_id), s.first_run_id, s.last_run_id, s.digest, s.links,
       (SELECT d.run_id FROM defender_storage.run_digest d WHERE d.previous_dropped_run_id = s.last_run_id),
       s.runs_computed_at_upgrade
  FROM defender_storage.runs_dropped s
  JOIN defender_storage.tenants t ON t.tenant_no = s.tenant_no
 WHERE $1::text IS NULL OR t.tenant_id = pg_catalog.lower($1::text)
