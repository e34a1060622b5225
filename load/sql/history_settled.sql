-- Reads the settled sessions (id and listed fingerprint) of the tenant's
-- definitions whose history a sync reads (as history_read_definitions
-- lists them) that ran at or after the bound: the only ones a reading of
-- the history since then can list.
-- $1 tenant id, $2 the bound (timestamptz).
SELECT r.session_id, r.listed_fingerprint FROM defender_storage.session_result r
 WHERE r.tenant_id = $1 AND r.scanned_at >= $2
   AND r.definition_id IN (SELECT d.definition_id FROM defender_storage.definition_state d
                            WHERE d.tenant_id = $1 AND (d.deleted_at IS NULL OR d.deleted_at > $2))
   AND r.session_id IS NOT NULL AND r.targets_run_id IS NOT NULL AND r.listed_fingerprint IS NOT NULL
