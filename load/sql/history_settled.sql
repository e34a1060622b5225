-- Reads the settled sessions (id and listed fingerprint) of the tenant's
-- definitions whose history a sync reads (as history_read_definitions
-- lists them) that ran at or after the bound: the only ones a reading of
-- the history since then can list.
-- $1 tenant id, $2 the bound (timestamptz).
SELECT r.session_id, r.listed_fingerprint
  FROM defender_storage.definition_state d
 -- Each definition's sessions since the bound, in time order: the index
 -- by definition and time reads only those, and the order keeps the
 -- planner on it when the table has no statistics yet (the index by
 -- outcome, as cheap to it then, reads every session of the definition).
 CROSS JOIN LATERAL (SELECT r1.session_id, r1.listed_fingerprint FROM defender_storage.session_result r1
                      WHERE r1.tenant_id = $1 AND r1.definition_id = d.definition_id AND r1.scanned_at >= $2
                        AND r1.session_id IS NOT NULL AND r1.targets_run_id IS NOT NULL
                        AND r1.listed_fingerprint IS NOT NULL
                      ORDER BY r1.scanned_at) r
 WHERE d.tenant_id = $1 AND (d.deleted_at IS NULL OR d.deleted_at > $2)
