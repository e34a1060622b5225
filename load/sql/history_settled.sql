-- Reads the settled sessions (id and listed fingerprint) of a tenant's
-- definitions that ran at or after a bound: the only ones a reading of
-- the history since then can list.
-- $1 tenant id, $2 definition ids (text[]), $3 the bound (timestamptz).
SELECT session_id, listed_fingerprint FROM defender_storage.session_result
 WHERE tenant_id = $1 AND definition_id = ANY ($2) AND scanned_at >= $3
   AND session_id IS NOT NULL AND targets_run_id IS NOT NULL AND listed_fingerprint IS NOT NULL
